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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bonestore import log_context
from bonestore.domain.order import Address, Order, OrderEvent, OrderMoved, ShippingChoice
from bonestore.domain.orders import now_iso
from bonestore.domain.payment import (
    ASYNC_FAILED,
    CHARGE_REFUNDED,
    EMBARGO_CODES,
    SESSION_COMPLETED,
    SESSION_EXPIRED,
    ChargeRefund,
    CheckoutSession,
    PaymentEvent,
    ShippingDetails,
    is_embargoed,
)
from bonestore.domain.privacy import mask_destination, mask_email
from bonestore.service import metrics as m

if TYPE_CHECKING:
    from bonestore.domain.geo import Destination
    from bonestore.domain.money import Money
    from bonestore.domain.rules import CartDecision, Engine
    from bonestore.service.ports import (
        BusinessMetrics,
        EmailSender,
        OrderEventPublisher,
        OrderStore,
        PaymentGateway,
    )

log = logging.getLogger("bonestore.service.payments")


# Orders whose payment, if it still arrives, is refunded (see PaymentService.settle).
LATE_PAYMENT_STATUSES = frozenset({"expired", "payment_failed"})
# How long a claim on sending an email holds (far longer than one send): a claim left by
# a crash between the claim and the send lapses, and the next retry sends it.
EMAIL_CLAIM_LEASE_SECONDS = 120
# The email an order's status calls for (shipped is fulfilment's, not the webhook's).
EMAIL_KINDS: Mapping[str, str] = {
    "paid": "order_paid",
    "held": "order_held",
    "refunded": "order_refunded",
    "fulfilled": "order_shipped",
}


@dataclass(frozen=True)
class Screening:
    """What the payment check found, and what it writes on the order."""

    eligible: bool
    reasons: list[dict[str, Any]]
    eligibility: dict[str, Any]
    shipping_address: Address | None = None
    shipping_method: ShippingChoice | None = None
    billing_country: str | None = None
    billing_place: Destination | None = None
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
            billing_place=self.billing_place or order.billing_place,
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


def _same_address(order_address: Address, reported: ShippingDetails) -> bool:
    """Whether the address the provider reports is the order's fixed one: codes, postal
    code's canonical form, and case and spacing of the text lines aside."""
    from bonestore.domain.geo import destination_from_stripe_address

    def text(value: str | None) -> str:
        return " ".join((value or "").split()).casefold()

    dest = destination_from_stripe_address(reported.address, line1_fallback=None)
    if dest is None:
        return False
    mine = order_address
    return (
        dest.country == mine.country
        and dest.subdivision == mine.subdivision
        and dest.postal_code == mine.postal_code
        and text(dest.city) == text(mine.city)
        and text(dest.line1) == text(mine.line1)
        and text(reported.address.get("line2")) == text(mine.line2)
        and (reported.name is None or text(reported.name) == text(mine.name))
    )


def _fixed_shipping_reasons(
    order: Order,
    session: CheckoutSession,
    decided: CartDecision,
    reported: ShippingDetails | None,
) -> list[dict[str, Any]]:
    """Address-first orders: Stripe must report exactly the address and the method (at
    the price) fixed at checkout, and the rules must still offer that method there."""
    assert order.shipping_address is not None
    reasons: list[dict[str, Any]] = []
    collected = (
        ShippingDetails(session.shipping_name, session.shipping_address)
        if session.shipping_address
        else None
    )
    if reported is None and collected is None:
        reasons.append(
            _reason(
                "no_shipping_address",
                "Stripe reports no shipping address for this payment.",
            )
        )
    for details in (reported, collected):
        if details is not None and not _same_address(order.shipping_address, details):
            reasons.append(
                _reason(
                    "shipping_address_mismatch",
                    "Stripe reports a shipping address other than the one decided at checkout.",
                )
            )
            break
    chosen = order.shipping_method
    if chosen is None:
        return reasons
    rate_method = order.shipping_rate_ids.get(session.shipping_rate_id or "")
    if session.shipping_rate_id and rate_method not in (None, chosen.method_id):
        reasons.append(
            _reason(
                "shipping_method_mismatch",
                f"Stripe charged for {rate_method} shipping; {chosen.method_id} was chosen.",
            )
        )
    if session.shipping_paid != chosen.price.amount:
        reasons.append(
            _reason(
                "shipping_amount_mismatch",
                f"{chosen.name} costs {chosen.price.amount}; Stripe charged "
                f"{session.shipping_paid}.",
            )
        )
    if decided.eligible and chosen.method_id not in {q.id for q in decided.shipping_methods}:
        taken = next(
            (m for m in decided.unavailable_shipping_methods if m.id == chosen.method_id), None
        )
        message = " ".join(r.message for r in taken.reasons) if taken else ""
        reasons.append(
            _reason(
                "shipping_method_unavailable",
                message or f"{chosen.name} no longer reaches this address.",
            )
        )
    return reasons


def screen_payment(
    order: Order,
    session: CheckoutSession,
    engine: Engine,
    at: datetime | None = None,
    *,
    reported: ShippingDetails | None = None,
) -> Screening:
    """Decide a paid session again: on the order's fixed address (address-first orders,
    checked against what Stripe reports, ``reported`` being the payment's own shipping)
    or on the address Stripe collected (orders from before v2), and on the billing
    country."""
    from bonestore.domain.geo import Destination, destination_from_stripe_address
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

    if physical and order.shipping_address is not None:
        address = order.shipping_address
        method = order.shipping_method
        decided = engine.decide(lines, address.destination(), at)
        decision_json = decided.to_json()
        reasons += _refusals(decided) if not decided.eligible else []
        reasons += _fixed_shipping_reasons(order, session, decided, reported)
    elif physical:
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
        billing_place=Destination(
            country=billing.country,
            subdivision=billing.subdivision,
            postal_code=billing.postal_code,
        )
        if billing
        else None,
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
        emails: CustomerEmails | None = None,
        metrics: BusinessMetrics = m.NO_METRICS,
    ) -> None:
        self.orders = orders
        self.metrics = metrics
        self._engine = engine
        self._publisher = publisher
        self._gateway = gateway
        self.on_ineligible = on_ineligible
        self.emails = emails

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
        log_context.bind(order_id=order_id)
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
            # Recorded only: a held order leaves held through support alone, never
            # through a redelivered or second payment event.
            self.orders.record_event(order_id, event.with_detail(ignored=True))
            latest = self.orders.get(order_id) or order
            self.follow_up(latest)
            return Outcome(event_id, event_type, "recorded_only", order_id, latest.status)
        reported = None
        if order.shipping_address is not None and session.payment_intent_id:
            # A fixed address is on the PaymentIntent, not in the session's collected
            # details; a provider failure here leaves as a 503 and Stripe retries.
            reported = self._gateway().payment_shipping(session.payment_intent_id)
        screening = screen_payment(order, session, self._engine(), reported=reported)
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
        if updated is not None:
            self._count_settled(updated, screening)
        latest = updated or self.orders.get(order_id) or order
        if updated is None and latest.status in LATE_PAYMENT_STATUSES:
            # It expired (or failed) between the read above and the move: the money is late.
            return self._refund_late_payment(latest, session, event, event_id, event_type)
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

    def _count_settled(self, order: Order, screening: Screening) -> None:
        if order.status == "paid":
            self.metrics.count(m.ORDERS_PAID)
            return
        self.metrics.count(m.ORDERS_HELD)
        for rule_id in m.refusing_rules(screening.reasons):
            self.metrics.count(m.ORDERS_HELD_BY_RULE, by=rule_id)

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
        self.notify(order)
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
        order whatever the cause (the gateway's request is the order's alone); ``reason``
        goes in the order's timeline. ``order`` may carry changes to write on the way
        (``current`` is then the order as stored)."""
        order_id = order.order_id
        refund_id = self._gateway().refund(payment_intent_id, order_id=order_id)
        refunded = self.orders.transition(
            current or order,
            "refunded",
            event=OrderEvent(
                event_type,
                {"refund_id": refund_id, "reason": reason, **(detail or {}), "automatic": True},
            ),
            updated=replace(order, refund_id=refund_id),
        )
        if refunded is not None:
            self.metrics.count(m.ORDERS_REFUNDED)
            self.notify(refunded)
        return refunded

    def notify(self, order: Order) -> None:
        """Tell the customer about the order's status, once per kind of email (see
        :class:`CustomerEmails`); support's flows call this after their moves too."""
        if self.emails is not None:
            self.emails.notify(self.orders, order, will_refund=self.on_ineligible == "refund")

    # -- charge.refunded --

    def _refunded(self, event_id: str, charge: ChargeRefund) -> Outcome:
        if charge.order_id:
            log_context.bind(order_id=charge.order_id)
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
        outcome = self._move(order, "refunded", event, event_id)
        latest = self.orders.get(order.order_id)
        if latest is not None and latest.status == "refunded":
            self.notify(latest)
        return outcome


class CustomerEmails:
    """The customer's emails about an order: paid, held (why, what next), refunded,
    shipped (carrier and tracking number).

    Each kind is sent at most once per order: ``email_sent`` on the timeline records it,
    so a duplicate or late event sends nothing (Powertools Idempotency already drops
    redelivered events; this covers other paths to the same state). A failed send is
    recorded as ``email_failed`` and the order's transition stands: the webhook answers
    2xx and Stripe does not retry for it (support sees the failure on the timeline).
    The order link carries the order's token, derived again from its key
    (``bonestore.domain.order_token``), never read from storage.
    """

    def __init__(
        self,
        sender: Callable[[], EmailSender],
        *,
        order_token_key: Callable[[], bytes],
        storefront_url: Callable[[], str],
    ) -> None:
        self._sender = sender
        self._order_token_key = order_token_key
        # Read only when an email goes (in AWS an SSM parameter): a failure to read it
        # is a failed email, recorded like any other.
        self._storefront_url = storefront_url

    def notify(self, orders: OrderStore, order: Order, *, will_refund: bool) -> str | None:
        """Send the email ``order``'s status calls for, unless already sent; its kind."""
        from bonestore.domain.order_token import derive_order_token, token_matches
        from bonestore.service import notifications

        kind = EMAIL_KINDS.get(order.status)
        if kind is None or any(
            e.type == "email_sent" and e.detail.get("kind") == kind for e in order.events
        ):
            return None
        token = derive_order_token(self._order_token_key(), order.order_id)
        notice = notifications.notice_for(order, token)
        if notice is None or (kind == "order_shipped" and not order.shipments):
            return None
        # Claimed before it goes: two callers at once (a redelivered event beside a late
        # one, two staff clicks on "shipped") read the same timeline without email_sent,
        # and only the claim's winner sends. A claim left by a crash lapses after the lease.
        if not orders.claim_email(
            order.order_id, kind, now=int(time.time()), lease_seconds=EMAIL_CLAIM_LEASE_SECONDS
        ):
            return None
        if not token_matches(token, order.order_token_hash):
            # An order from before tokens, or a key that changed since checkout: a link
            # would open nothing, so the email goes without one being claimed to work.
            log.warning("order %s: its token cannot be derived again", order.order_id)
        try:
            url = self._storefront_url()
            if kind == "order_paid":
                message_id = notifications.notify_order_paid(self._sender(), notice, url)
            elif kind == "order_held":
                reasons = [str(r.get("message") or "") for r in order.hold_reasons]
                message_id = notifications.notify_order_held(
                    self._sender(), notice, [r for r in reasons if r], url,
                    will_refund=will_refund, embargoed=is_embargoed(order),
                )  # fmt: skip
            elif kind == "order_shipped":
                shipment = order.shipments[-1]
                message_id = notifications.notify_order_shipped(
                    self._sender(), notice, shipment.carrier, shipment.tracking_number, url
                )
            else:
                message_id = notifications.notify_order_refunded(
                    self._sender(), notice, order.amount_total.amount, url
                )
        except Exception as exc:
            code = getattr(exc, "code", type(exc).__name__)
            log.warning("order %s: %s email not sent (%s)", order.order_id, kind, code)
            orders.record_event(
                order.order_id, OrderEvent("email_failed", {"kind": kind, "error": code})
            )
            orders.release_email(order.order_id, kind)  # a retry may send it
            return None
        orders.record_event(
            order.order_id, OrderEvent("email_sent", {"kind": kind, "message_id": message_id})
        )
        return kind
