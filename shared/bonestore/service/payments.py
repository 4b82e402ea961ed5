"""Stripe events -> order transitions, and the rules run again on what Stripe collected.

``screen_payment`` is pure: given the order (its lines and product snapshots) and the
completed Checkout Session, it decides whether the order may ship where the customer
asked, and to whom it was billed. ``PaymentService`` applies a verified event to the
order through the repository's state machine, so a duplicate or out-of-order event
changes nothing but the timeline.

Where Stripe puts the address: ``collected_information.shipping_details`` (API
versions from 2025 on), else top-level ``shipping_details`` or ``shipping`` (older
versions); billing in ``customer_details.address``. All are accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bonestore.domain.orders import now_iso, timeline_event
from bonestore.domain.privacy import mask_destination, mask_email

if TYPE_CHECKING:
    from bonestore.adapters.events import OrderEventPublisher
    from bonestore.adapters.orders import OrderRepository
    from bonestore.adapters.stripe_gateway import PaymentGateway
    from bonestore.domain.rules import CartDecision, CartLine, Engine

log = logging.getLogger("bonestore.service.payments")

SESSION_COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
SESSION_EXPIRED = "checkout.session.expired"
CHARGE_REFUNDED = "charge.refunded"
HANDLED_EVENTS = frozenset(
    {SESSION_COMPLETED, ASYNC_SUCCEEDED, ASYNC_FAILED, SESSION_EXPIRED, CHARGE_REFUNDED}
)
# Reason codes that refuse a sale whatever is bought: screened on the billing address too.
EMBARGO_CODES = frozenset({"embargoed"})
PAID_STATUSES = frozenset({"paid", "no_payment_required"})
# Orders whose payment, if it still arrives, is refunded (see PaymentService.settle).
LATE_PAYMENT_STATUSES = frozenset({"expired", "payment_failed"})


@dataclass
class Screening:
    eligible: bool
    reasons: list[dict[str, Any]]
    decision: dict[str, Any] | None
    fields: dict[str, Any] = field(default_factory=dict)


# -- reading Stripe's objects ---------------------------------------------------------


def _object(value: Any) -> dict[str, Any]:
    """A nested Stripe object, or {} when a (signed but malformed) event has something else."""
    return value if isinstance(value, dict) else {}


def session_order_id(session: dict[str, Any]) -> str | None:
    value = _object(session.get("metadata")).get("order_id") or session.get("client_reference_id")
    return value if isinstance(value, str) and value else None


def charge_order_id(charge: dict[str, Any]) -> str | None:
    value = _object(charge.get("metadata")).get("order_id")
    if isinstance(value, str) and value:
        return value
    refunds = _object(charge.get("refunds")).get("data")
    for refund in refunds if isinstance(refunds, list) else []:
        value = (refund.get("metadata") or {}).get("order_id") if isinstance(refund, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def collected_shipping(session: dict[str, Any]) -> dict[str, Any] | None:
    """``{"name", "address"}`` Stripe collected, wherever this API version put it."""
    collected = session.get("collected_information") or {}
    for candidate in (
        collected.get("shipping_details") if isinstance(collected, dict) else None,
        session.get("shipping_details"),
        session.get("shipping"),
    ):
        if isinstance(candidate, dict) and isinstance(candidate.get("address"), dict):
            return candidate
    return None


def billing_address(session: dict[str, Any]) -> dict[str, Any] | None:
    details = session.get("customer_details") or {}
    address = details.get("address") if isinstance(details, dict) else None
    return address if isinstance(address, dict) else None


def _rate_id(session: dict[str, Any]) -> str | None:
    cost = session.get("shipping_cost") or {}
    rate = cost.get("shipping_rate") if isinstance(cost, dict) else None
    if isinstance(rate, dict):
        rate = rate.get("id")
    if rate is None:
        rate = session.get("shipping_rate")  # pre-2020 sessions
    return rate if isinstance(rate, str) else None


def _shipping_paid(session: dict[str, Any]) -> int:
    cost = session.get("shipping_cost") or {}
    if isinstance(cost, dict) and isinstance(cost.get("amount_total"), int):
        return int(cost["amount_total"])
    totals = session.get("total_details") or {}
    value = totals.get("amount_shipping") if isinstance(totals, dict) else None
    return value if isinstance(value, int) else 0


# -- screening (pure) -----------------------------------------------------------------


def order_lines(order: dict[str, Any]) -> list[CartLine]:
    """The order's lines as the rules see them: the product as it was at checkout."""
    from bonestore.domain.catalog import Product
    from bonestore.domain.rules import CartLine

    return [
        CartLine(Product.model_validate(item["product"]), int(item["quantity"]))
        for item in order["items"]
    ]


def _refusals(
    decision: CartDecision, *, only: Callable[[str, str], bool] | None = None
) -> list[dict[str, Any]]:
    found = []
    for item in decision.items:
        for reason in item.reasons:
            if only is None or only(item.sku, reason.code):
                found.append({"sku": item.sku, **reason.as_json()})
    return found


def _reason(code: str, message: str) -> dict[str, Any]:
    return {"rule_id": "payment-check", "code": code, "message": message}


def screen_payment(
    order: dict[str, Any], session: dict[str, Any], engine: Engine, at: datetime | None = None
) -> Screening:
    """Decide a paid session again on the address and billing country Stripe collected."""
    from bonestore.domain.geo import destination_from_stripe_address

    at = at or datetime.now(UTC)
    lines = order_lines(order)
    physical = any(line.product.kind == "physical" for line in lines)
    digital_skus = {line.product.sku for line in lines if line.product.kind == "digital"}
    reasons: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    decision_json: dict[str, Any] | None = None

    billing = destination_from_stripe_address(billing_address(session))
    billing_json: dict[str, Any] = {"country": billing.country if billing else None}
    if billing is not None:
        fields["billing_country"] = billing.country
        billed = engine.decide(lines, billing, at)
        embargoed = _refusals(
            billed, only=lambda sku, code: code in EMBARGO_CODES or sku in digital_skus
        )
        billing_json.update(eligible=not embargoed, reasons=embargoed, decision=billed.to_json())
        reasons += embargoed
        if not physical:
            decision_json = billed.to_json()
    elif not physical:
        reasons.append(_reason("no_billing_address", "Stripe collected no billing address."))

    if physical:
        shipping = collected_shipping(session)
        destination = (
            destination_from_stripe_address(shipping["address"], line1_fallback=None)
            if shipping
            else None
        )
        if destination is None:
            reasons.append(
                _reason("no_shipping_address", "Stripe collected no usable shipping address.")
            )
        else:
            assert shipping is not None
            fields["shipping_address"] = destination.as_json()
            fields["shipping_details"] = {
                "name": shipping.get("name"),
                "address": shipping.get("address"),
            }
            decided = engine.decide(lines, destination, at)
            decision_json = decided.to_json()
            reasons += _refusals(decided) if not decided.eligible else []
            method_id = (order.get("shipping_rate_ids") or {}).get(_rate_id(session) or "")
            paid = _shipping_paid(session)
            quotes = {quote.id: quote for quote in decided.shipping_methods}
            if method_id is None and len(quotes) == 1:
                method_id = next(iter(quotes))
            quote = quotes.get(method_id or "")
            if quote is None:
                reasons.append(
                    _reason(
                        "shipping_method_unavailable",
                        f"The shipping method chosen ({method_id or 'unknown'}) does not "
                        f"reach this address.",
                    )
                )
            else:
                fields["shipping"] = {
                    "method": quote.id,
                    "name": quote.name,
                    "price": {"amount": paid, "currency": quote.price.currency},
                }
                if paid < quote.price.amount:
                    reasons.append(
                        _reason(
                            "shipping_underpaid",
                            f"{quote.name} to this address costs {quote.price.amount}; "
                            f"{paid} was paid.",
                        )
                    )

    subtotal = session.get("amount_subtotal")
    expected = order["amount_subtotal"]["amount"]
    if isinstance(subtotal, int) and subtotal != expected:
        reasons.append(
            _reason("amount_mismatch", f"Stripe charged {subtotal} for goods priced {expected}.")
        )
    currency = session.get("currency")
    if isinstance(currency, str) and currency.upper() != order["currency"]:
        reasons.append(_reason("currency_mismatch", f"Stripe charged in {currency.upper()}."))

    total = session.get("amount_total")
    if isinstance(total, int):
        fields["amount_total"] = {"amount": total, "currency": order["currency"]}
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if isinstance(intent, str):
        fields["payment_intent_id"] = intent
    email = _object(session.get("customer_details")).get("email")
    if isinstance(email, str) and email and not order.get("email"):
        fields["email"] = email
        fields["email_lc"] = email.strip().lower()

    eligibility = dict(decision_json or {})
    eligibility["billing"] = billing_json
    eligibility["eligible"] = not reasons
    eligibility["checked_at"] = now_iso()
    fields["eligibility_at_payment"] = eligibility
    if reasons:
        fields["hold_reasons"] = reasons
    return Screening(eligible=not reasons, reasons=reasons, decision=eligibility, fields=fields)


# -- applying events ------------------------------------------------------------------


@dataclass
class Outcome:
    event_id: str | None
    event_type: str | None
    action: str
    order_id: str | None = None
    status: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "received": True,
            "event_id": self.event_id,
            "type": self.event_type,
            "action": self.action,
            "order_id": self.order_id,
            "status": self.status,
        }


class PaymentService:
    """Applies verified Stripe events to orders. Adapters come in as factories so the
    webhook never builds (or imports) what an event does not need."""

    def __init__(
        self,
        orders: OrderRepository,
        *,
        engine: Callable[[], Engine],
        publisher: Callable[[], OrderEventPublisher],
        gateway: Callable[[], PaymentGateway],
        on_ineligible: str = "hold",
    ) -> None:
        self.orders = orders
        self._engine = engine
        self._publisher = publisher
        self._gateway = gateway
        self.on_ineligible = on_ineligible

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        event_id = event.get("id")
        event_type = event.get("type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if event_type not in HANDLED_EVENTS or not isinstance(obj, dict):
            return Outcome(event_id, event_type, "ignored_type").as_json()
        if event_type == CHARGE_REFUNDED:
            return self._refunded(event_id, obj).as_json()
        return self._session_event(event_id, event_type, obj).as_json()

    # -- checkout.session.* --

    def _session_event(self, event_id: Any, event_type: str, session: dict[str, Any]) -> Outcome:
        order_id = session_order_id(session)
        if order_id is None:
            log.info("stripe %s %s names no order: ignored", event_type, event_id)
            return Outcome(event_id, event_type, "ignored_no_order")
        order = self.orders.get(order_id)
        if order is None:
            log.info("stripe %s %s for unknown order %s: ignored", event_type, event_id, order_id)
            return Outcome(event_id, event_type, "ignored_unknown_order", order_id)
        detail = {"event_id": event_id, "session_id": session.get("id")}
        known_session = order.get("stripe_session_id")
        if known_session and session.get("id") != known_session:
            self.orders.record_event(
                order_id, timeline_event(event_type, {**detail, "ignored": "session_mismatch"})
            )
            return Outcome(event_id, event_type, "ignored_session_mismatch", order_id)

        if event_type == SESSION_EXPIRED:
            return self._move(order, "expired", timeline_event(event_type, detail), event_id)
        if event_type == ASYNC_FAILED:
            return self._move(order, "payment_failed", timeline_event(event_type, detail), event_id)
        if event_type == SESSION_COMPLETED and session.get("payment_status") not in PAID_STATUSES:
            return self._processing(order, session, timeline_event(event_type, detail), event_id)
        return self.settle(order, session, timeline_event(event_type, detail), event_id, event_type)

    def _move(
        self, order: dict[str, Any], target: str, event: dict[str, Any], event_id: Any
    ) -> Outcome:
        updated = self.orders.transition(order["order_id"], target, event=event, current=order)
        action = f"moved_to_{target}" if updated else "recorded_only"
        status = updated["status"] if updated else order["status"]
        log.info("order %s: %s on %s (%s)", order["order_id"], action, event["type"], event_id)
        return Outcome(event_id, event["type"], action, order["order_id"], status)

    def _processing(
        self, order: dict[str, Any], session: dict[str, Any], event: dict[str, Any], event_id: Any
    ) -> Outcome:
        """Completed, money not yet in (bank debits): keep the stock, stop the sweeper."""
        intent = session.get("payment_intent")
        fields: dict[str, Any] = {"reservation_state": "awaiting_payment"}
        if isinstance(intent, str):
            fields["payment_intent_id"] = intent
        if order["status"] != "pending_payment":
            self.orders.record_event(
                order["order_id"], {**event, "detail": {**event["detail"], "ignored": True}}
            )
            return Outcome(event_id, event["type"], "recorded_only", order["order_id"])
        try:
            self.orders.update_fields(
                order["order_id"],
                fields,
                expected_status="pending_payment",
                event={**event, "detail": {**event["detail"], "payment_status": "unpaid"}},
            )
        except self._conditional_failed():
            return self._session_event_retry(order, event_id, event)
        return Outcome(
            event_id, event["type"], "awaiting_payment", order["order_id"], "pending_payment"
        )

    def _session_event_retry(
        self, order: dict[str, Any], event_id: Any, event: dict[str, Any]
    ) -> Outcome:
        self.orders.record_event(
            order["order_id"], {**event, "detail": {**event["detail"], "ignored": True}}
        )
        return Outcome(event_id, event["type"], "recorded_only", order["order_id"])

    def _conditional_failed(self) -> type[Exception]:
        client = getattr(self.orders, "_client", None)
        exceptions = getattr(client, "exceptions", None)
        found = getattr(exceptions, "ConditionalCheckFailedException", None)
        return found if isinstance(found, type) else LookupError

    def settle(
        self,
        order: dict[str, Any],
        session: dict[str, Any],
        event: dict[str, Any],
        event_id: Any = None,
        event_type: str | None = None,
    ) -> Outcome:
        """A paid session: screen again, then ``paid`` (publish) or ``held`` (or refund)."""
        order_id = order["order_id"]
        if order["status"] in LATE_PAYMENT_STATUSES:
            return self._refund_late_payment(order, session, event, event_id, event_type)
        if order["status"] != "pending_payment":
            self.orders.transition(order_id, "paid", event=event, current=order)  # records only
            latest = self.orders.get(order_id) or order
            self.follow_up(latest)
            return Outcome(event_id, event_type, "recorded_only", order_id, latest["status"])
        screening = screen_payment(order, session, self._engine())
        target = "paid" if screening.eligible else "held"
        detail = {**event["detail"], "eligible": screening.eligible}
        if screening.reasons:
            detail["reasons"] = [r["code"] for r in screening.reasons]
        updated = self.orders.transition(
            order_id,
            target,
            event={**event, "detail": detail},
            fields=screening.fields,
            current=order,
        )
        latest = updated or self.orders.get(order_id) or order
        log.info(
            "order %s %s at payment (ship to %s, billed %s, email %s)",
            order_id,
            latest["status"],
            mask_destination(screening.fields.get("shipping_address")),
            screening.fields.get("billing_country"),
            mask_email(latest.get("email")),
        )
        self.follow_up(latest)
        latest = self.orders.get(order_id) or latest
        return Outcome(event_id, event_type, f"settled_{target}", order_id, latest["status"])

    def _refund_late_payment(
        self,
        order: dict[str, Any],
        session: dict[str, Any],
        event: dict[str, Any],
        event_id: Any,
        event_type: str | None,
    ) -> Outcome:
        """Money for an order that had already expired or failed: its stock is back on
        sale and may be sold, so the payment goes back rather than the order coming back.
        The refund's idempotency key makes a redelivered event harmless."""
        order_id = order["order_id"]
        intent = session.get("payment_intent")
        self.orders.record_event(
            order_id, {**event, "detail": {**event["detail"], "late_payment": True}}
        )
        if not isinstance(intent, str) or not intent:
            log.error(
                "order %s: paid after it was %s (%s) but names no payment to refund; "
                "support must refund it in Stripe",
                order_id,
                order["status"],
                event_id,
            )
            return Outcome(event_id, event_type, "recorded_only", order_id, order["status"])
        updated = self._refund(
            order,
            intent,
            reason=f"paid_after_{order['status']}",
            event_type="late_payment_refunded",
            detail={"after": order["status"]},
            fields={"payment_intent_id": intent},
        )
        log.warning("order %s: paid after it was %s; refunded", order_id, order["status"])
        status = updated["status"] if updated else order["status"]
        return Outcome(event_id, event_type, "refunded_late_payment", order_id, status)

    def follow_up(self, order: dict[str, Any]) -> None:
        """What must happen once an order is paid or held; safe to repeat (a retried
        event, or a publish/refund that failed the first time)."""
        order_id = order["order_id"]
        if order["status"] == "paid" and not order.get("order_paid_published_at"):
            self._publisher().order_paid(order)
            try:
                self.orders.update_fields(
                    order_id,
                    {"order_paid_published_at": now_iso()},
                    expected_status="paid",
                    event=timeline_event("order_paid_published", {}),
                )
            except self._conditional_failed():
                log.warning("order %s left paid before OrderPaid was recorded", order_id)
        elif (
            order["status"] == "held"
            and self.on_ineligible == "refund"
            and order.get("payment_intent_id")
        ):
            self._refund(
                order,
                str(order["payment_intent_id"]),
                reason="ineligible_at_payment",
                event_type="refund_issued",
            )

    def _refund(
        self,
        order: dict[str, Any],
        payment_intent_id: str,
        *,
        reason: str,
        event_type: str,
        detail: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Refund the order's payment in full and move it to ``refunded``. One refund per
        order whatever the cause: the idempotency key is the order's."""
        order_id = order["order_id"]
        refund = self._gateway().refund(
            payment_intent_id,
            idempotency_key=f"refund-{order_id}",
            metadata={"order_id": order_id, "reason": reason},
        )
        return self.orders.transition(
            order_id,
            "refunded",
            event=timeline_event(
                event_type, {"refund_id": refund.get("id"), **(detail or {}), "automatic": True}
            ),
            fields={"refund_id": refund.get("id"), **(fields or {})},
            current=order,
        )

    # -- charge.refunded --

    def _refunded(self, event_id: Any, charge: dict[str, Any]) -> Outcome:
        order_id = charge_order_id(charge)
        order = self.orders.get(order_id) if order_id else None
        if order is None:
            log.info("stripe charge.refunded %s for no known order: ignored", event_id)
            return Outcome(event_id, CHARGE_REFUNDED, "ignored_unknown_order", order_id)
        detail = {
            "event_id": event_id,
            "charge_id": charge.get("id"),
            "amount_refunded": charge.get("amount_refunded"),
            "full": bool(charge.get("refunded")),
        }
        event = timeline_event(CHARGE_REFUNDED, detail)
        if not charge.get("refunded"):
            self.orders.record_event(order["order_id"], event)
            return Outcome(
                event_id, CHARGE_REFUNDED, "partial_refund_recorded", order_id, order["status"]
            )
        return self._move(order, "refunded", event, event_id)
