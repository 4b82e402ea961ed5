"""Payment events -> order transitions, and the rules run again on what Stripe collected.

``screen_payment`` is pure: given the order (its lines and product snapshots) and the
completed Checkout Session (parsed by ``bonestore.adapters.stripe_translation``), it
decides whether the order may ship where the customer asked, and to whom it was
billed. ``PaymentService`` applies a verified event to the order through the order
store's state machine, so a duplicate or out-of-order event changes nothing but the
timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bonestore.domain.order import Address, Order, OrderEvent, OrderMoved, ShippingChoice
from bonestore.domain.orders import now_iso
from bonestore.domain.payment import (
    ASYNC_FAILED,
    CHARGE_REFUNDED,
    SESSION_COMPLETED,
    SESSION_EXPIRED,
    ChargeRefund,
    CheckoutSession,
    PaymentEvent,
)
from bonestore.domain.privacy import mask_destination, mask_email

if TYPE_CHECKING:
    from bonestore.domain.money import Money
    from bonestore.domain.rules import CartDecision, Engine
    from bonestore.service.ports import OrderEventPublisher, OrderStore, PaymentGateway

log = logging.getLogger("bonestore.service.payments")

# Reason codes that refuse a sale whatever is bought: screened on the billing address too.
EMBARGO_CODES = frozenset({"embargoed"})
# Orders whose payment, if it still arrives, is refunded (see PaymentService.settle).
LATE_PAYMENT_STATUSES = frozenset({"expired", "payment_failed"})


@dataclass(frozen=True)
class Screening:
    """What the payment check found, and what it writes on the order."""

    eligible: bool
    reasons: list[dict[str, Any]]
    eligibility: dict[str, Any]
    shipping_address: Address | None = None
    shipping_method: ShippingChoice | None = None
    billing_country: str | None = None
    amount_total: Money | None = None
    payment_intent_id: str | None = None
    email: str | None = None

    def applied_to(self, order: Order) -> Order:
        return replace(
            order,
            eligibility_at_payment=self.eligibility,
            hold_reasons=tuple(self.reasons),
            shipping_address=self.shipping_address or order.shipping_address,
            shipping_method=self.shipping_method or order.shipping_method,
            billing_country=self.billing_country or order.billing_country,
            amount_total=self.amount_total or order.amount_total,
            payment_intent_id=self.payment_intent_id or order.payment_intent_id,
            email=order.email or self.email,
        )


# -- screening (pure) -----------------------------------------------------------------


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


def _checkout_rate_ids(order: Order, session: CheckoutSession) -> dict[str, str]:
    """The mapping the checkout records once Stripe has answered (``shipping_rate_ids``),
    rebuilt the same way when the payment arrives first, or the checkout died before
    recording it: the session's options keep the order of the methods decided then."""
    methods = (order.eligibility_at_checkout or {}).get("shipping_methods") or []
    ids = [str(method.get("id")) for method in methods if isinstance(method, Mapping)]
    return dict(zip(session.shipping_option_rate_ids, ids, strict=False))


def screen_payment(
    order: Order, session: CheckoutSession, engine: Engine, at: datetime | None = None
) -> Screening:
    """Decide a paid session again on the address and billing country Stripe collected."""
    from bonestore.domain.geo import destination_from_stripe_address
    from bonestore.domain.money import Money

    at = at or datetime.now(UTC)
    lines = order.cart_lines()
    physical = any(line.product.kind == "physical" for line in lines)
    digital_skus = {line.product.sku for line in lines if line.product.kind == "digital"}
    reasons: list[dict[str, Any]] = []
    decision_json: dict[str, Any] | None = None
    address: Address | None = None
    method: ShippingChoice | None = None

    billing = destination_from_stripe_address(session.billing_address)
    billing_json: dict[str, Any] = {"country": billing.country if billing else None}
    if billing is not None:
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
        destination = destination_from_stripe_address(session.shipping_address, line1_fallback=None)
        if destination is None:
            reasons.append(
                _reason("no_shipping_address", "Stripe collected no usable shipping address.")
            )
        else:
            address = Address(
                country=destination.country,
                name=session.shipping_name,
                line1=destination.line1,
                line2=(session.shipping_address or {}).get("line2"),
                city=destination.city,
                subdivision=destination.subdivision,
                postal_code=destination.postal_code,
            )
            decided = engine.decide(lines, destination, at)
            decision_json = decided.to_json()
            reasons += _refusals(decided) if not decided.eligible else []
            rate_ids = order.shipping_rate_ids or _checkout_rate_ids(order, session)
            method_id = rate_ids.get(session.shipping_rate_id or "")
            paid = session.shipping_paid
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
                method = ShippingChoice(
                    quote.id, quote.name, Money(amount=paid, currency=quote.price.currency)
                )
                if paid < quote.price.amount:
                    reasons.append(
                        _reason(
                            "shipping_underpaid",
                            f"{quote.name} to this address costs {quote.price.amount}; "
                            f"{paid} was paid.",
                        )
                    )

    expected = order.amount_subtotal.amount
    if session.amount_subtotal is not None and session.amount_subtotal != expected:
        reasons.append(
            _reason(
                "amount_mismatch",
                f"Stripe charged {session.amount_subtotal} for goods priced {expected}.",
            )
        )
    if session.currency is not None and session.currency.upper() != order.currency:
        reasons.append(
            _reason("currency_mismatch", f"Stripe charged in {session.currency.upper()}.")
        )

    eligibility = dict(decision_json or {})
    eligibility["billing"] = billing_json
    eligibility["eligible"] = not reasons
    eligibility["checked_at"] = now_iso()
    return Screening(
        eligible=not reasons,
        reasons=reasons,
        eligibility=eligibility,
        shipping_address=address,
        shipping_method=method,
        billing_country=billing.country if billing else None,
        amount_total=session.total(order.currency),
        payment_intent_id=session.payment_intent_id,
        email=session.email,
    )


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
    """Applies verified payment events to orders. Adapters come in as factories so the
    webhook never builds (or imports) what an event does not need."""

    def __init__(
        self,
        orders: OrderStore,
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

    def apply(self, event: PaymentEvent) -> dict[str, Any]:
        if event.charge is not None:
            return self._refunded(event.event_id, event.charge).as_json()
        if event.session is None:
            return Outcome(event.event_id, event.type, "ignored_type").as_json()
        return self._session_event(event.event_id, event.type, event.session).as_json()

    # -- checkout.session.* --

    def _session_event(self, event_id: str, event_type: str, session: CheckoutSession) -> Outcome:
        order_id = session.order_id
        if order_id is None:
            log.info("stripe %s %s names no order: ignored", event_type, event_id)
            return Outcome(event_id, event_type, "ignored_no_order")
        order = self.orders.get(order_id)
        if order is None:
            log.info("stripe %s %s for unknown order %s: ignored", event_type, event_id, order_id)
            return Outcome(event_id, event_type, "ignored_unknown_order", order_id)
        event = OrderEvent(event_type, {"event_id": event_id, "session_id": session.session_id})
        if order.stripe_session_id and session.session_id != order.stripe_session_id:
            self.orders.record_event(order_id, event.with_detail(ignored="session_mismatch"))
            return Outcome(event_id, event_type, "ignored_session_mismatch", order_id)

        if event_type == SESSION_EXPIRED:
            return self._move(order, "expired", event, event_id)
        if event_type == ASYNC_FAILED:
            return self._move(order, "payment_failed", event, event_id)
        if event_type == SESSION_COMPLETED and not session.paid:
            return self._processing(order, session, event, event_id)
        return self.settle(order, session, event, event_id, event_type)

    def _move(self, order: Order, target: str, event: OrderEvent, event_id: str) -> Outcome:
        updated = self.orders.transition(order, target, event=event)
        action = f"moved_to_{target}" if updated else "recorded_only"
        status = updated.status if updated else order.status
        log.info("order %s: %s on %s (%s)", order.order_id, action, event.type, event_id)
        return Outcome(event_id, event.type, action, order.order_id, status)

    def _processing(
        self, order: Order, session: CheckoutSession, event: OrderEvent, event_id: str
    ) -> Outcome:
        """Completed, money not yet in (bank debits): keep the stock, stop the sweeper."""
        if order.status == "pending_payment":
            try:
                self.orders.save(
                    order,
                    replace(
                        order,
                        reservation="awaiting_payment",
                        payment_intent_id=session.payment_intent_id or order.payment_intent_id,
                    ),
                    event=event.with_detail(payment_status="unpaid"),
                )
                return Outcome(
                    event_id, event.type, "awaiting_payment", order.order_id, "pending_payment"
                )
            except OrderMoved:
                pass
        self.orders.record_event(order.order_id, event.with_detail(ignored=True))
        return Outcome(event_id, event.type, "recorded_only", order.order_id)

    def settle(
        self,
        order: Order,
        session: CheckoutSession,
        event: OrderEvent,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> Outcome:
        """A paid session: screen again, then ``paid`` (publish) or ``held`` (or refund)."""
        order_id = order.order_id
        if order.status in LATE_PAYMENT_STATUSES:
            return self._refund_late_payment(order, session, event, event_id, event_type)
        if order.status != "pending_payment":
            self.orders.transition(order, "paid", event=event)  # records only
            latest = self.orders.get(order_id) or order
            self.follow_up(latest)
            return Outcome(event_id, event_type, "recorded_only", order_id, latest.status)
        screening = screen_payment(order, session, self._engine())
        target = "paid" if screening.eligible else "held"
        detail: dict[str, Any] = {"eligible": screening.eligible}
        if screening.reasons:
            detail["reasons"] = [r["code"] for r in screening.reasons]
        updated = self.orders.transition(
            order,
            target,
            event=event.with_detail(**detail),
            updated=screening.applied_to(order),
        )
        latest = updated or self.orders.get(order_id) or order
        log.info(
            "order %s %s at payment (ship to %s, billed %s, email %s)",
            order_id,
            latest.status,
            mask_destination(
                screening.shipping_address.destination().as_json()
                if screening.shipping_address
                else None
            ),
            screening.billing_country,
            mask_email(latest.email),
        )
        self.follow_up(latest)
        latest = self.orders.get(order_id) or latest
        return Outcome(event_id, event_type, f"settled_{target}", order_id, latest.status)

    def _refund_late_payment(
        self,
        order: Order,
        session: CheckoutSession,
        event: OrderEvent,
        event_id: str | None,
        event_type: str | None,
    ) -> Outcome:
        """Money for an order that had already expired or failed: its stock is back on
        sale and may be sold, so the payment goes back rather than the order coming back.
        The refund's idempotency key makes a redelivered event harmless."""
        order_id = order.order_id
        intent = session.payment_intent_id
        self.orders.record_event(order_id, event.with_detail(late_payment=True))
        if intent is None:
            log.error(
                "order %s: paid after it was %s (%s) but names no payment to refund; "
                "support must refund it in Stripe",
                order_id,
                order.status,
                event_id,
            )
            return Outcome(event_id, event_type, "recorded_only", order_id, order.status)
        updated = self._refund(
            replace(order, payment_intent_id=intent),
            intent,
            reason=f"paid_after_{order.status}",
            event_type="late_payment_refunded",
            detail={"after": order.status},
            current=order,
        )
        log.warning("order %s: paid after it was %s; refunded", order_id, order.status)
        status = updated.status if updated else order.status
        return Outcome(event_id, event_type, "refunded_late_payment", order_id, status)

    def follow_up(self, order: Order) -> None:
        """What must happen once an order is paid or held; safe to repeat (a retried
        event, or a publish/refund that failed the first time)."""
        if order.status == "paid" and not order.order_paid_published_at:
            self._publisher().order_paid(order)
            try:
                self.orders.save(
                    order,
                    replace(order, order_paid_published_at=now_iso()),
                    event=OrderEvent("order_paid_published"),
                )
            except OrderMoved:
                log.warning("order %s left paid before OrderPaid was recorded", order.order_id)
        elif order.status == "held" and self.on_ineligible == "refund" and order.payment_intent_id:
            self._refund(
                order,
                order.payment_intent_id,
                reason="ineligible_at_payment",
                event_type="refund_issued",
            )

    def _refund(
        self,
        order: Order,
        payment_intent_id: str,
        *,
        reason: str,
        event_type: str,
        detail: dict[str, Any] | None = None,
        current: Order | None = None,
    ) -> Order | None:
        """Refund the order's payment in full and move it to ``refunded``. One refund per
        order whatever the cause: the idempotency key is the order's. ``order`` may carry
        changes to write on the way (``current`` is then the order as stored)."""
        order_id = order.order_id
        refund_id = self._gateway().refund(
            payment_intent_id,
            idempotency_key=f"refund-{order_id}",
            metadata={"order_id": order_id, "reason": reason},
        )
        return self.orders.transition(
            current or order,
            "refunded",
            event=OrderEvent(
                event_type, {"refund_id": refund_id, **(detail or {}), "automatic": True}
            ),
            updated=replace(order, refund_id=refund_id),
        )

    # -- charge.refunded --

    def _refunded(self, event_id: str, charge: ChargeRefund) -> Outcome:
        order = self.orders.get(charge.order_id) if charge.order_id else None
        if order is None:
            log.info("stripe charge.refunded %s for no known order: ignored", event_id)
            return Outcome(event_id, CHARGE_REFUNDED, "ignored_unknown_order", charge.order_id)
        event = OrderEvent(
            CHARGE_REFUNDED,
            {
                "event_id": event_id,
                "charge_id": charge.charge_id,
                "amount_refunded": charge.amount_refunded,
                "full": charge.full,
            },
        )
        if not charge.full:
            self.orders.record_event(order.order_id, event)
            return Outcome(
                event_id, CHARGE_REFUNDED, "partial_refund_recorded", order.order_id, order.status
            )
        return self._move(order, "refunded", event, event_id)
