"""What support does with a held order: release it (when the rules now permit it) or refund it.

Release re-runs the payment check (``bonestore.service.payments.screen_payment``) on
the order's own shipping address, shipping method and billing country, rebuilt as the
Checkout Session that paid for it, so "may it ship now" is decided exactly as it was
at payment, only with today's rules. A release that the rules still refuse is a 409
``still_not_shippable`` carrying the reasons.

Refund goes through the payment gateway with the order's one refund idempotency key
(``refund-<order_id>``, the key the automatic refunds use too), so however often staff
or their client retry, and whoever refunds first, Stripe refunds once. Both moves go
through the order store's state machine and name the staff member and the reason on
the timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bonestore.domain.errors import Conflict, NotFound
from bonestore.domain.order import Order, OrderEvent
from bonestore.domain.orders import InvalidTransition
from bonestore.domain.payment import CheckoutSession

if TYPE_CHECKING:
    from bonestore.domain.rules import Engine
    from bonestore.service.payments import Screening
    from bonestore.service.ports import OrderStore, PaymentGateway

RELEASED = "released_by_support"
REFUNDED = "refunded_by_support"
REFUNDABLE = frozenset({"held", "paid"})


class StillNotShippable(Conflict):
    code = "still_not_shippable"


class NoPaymentToRefund(Conflict):
    code = "no_payment_to_refund"


def session_of(order: Order) -> CheckoutSession:
    """The order's payment as the Checkout Session that made it: its shipping address
    (Stripe's field names), method and billing country, so ``screen_payment`` can judge
    it again."""
    address = order.shipping_address
    shipping: dict[str, str] | None = None
    if address is not None:
        fields = {
            "country": address.country,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "state": address.subdivision,
            "postal_code": address.postal_code,
        }
        shipping = {k: v for k, v in fields.items() if v}
    method = order.shipping_method
    rate_id = next(
        (
            rate
            for rate, mid in order.shipping_rate_ids.items()
            if method and mid == method.method_id
        ),
        None,
    )
    return CheckoutSession(
        order_id=order.order_id,
        payment_status="paid",
        email=order.email,
        shipping_name=address.name if address else None,
        shipping_address=shipping,
        billing_address=_billing_address(order),
        shipping_rate_id=rate_id,
        shipping_paid=method.price.amount if method else 0,
        amount_subtotal=order.amount_subtotal.amount,
        amount_total=order.amount_total.amount,
        currency=order.currency,
        payment_intent_id=order.payment_intent_id,
    )


def _billing_address(order: Order) -> dict[str, str] | None:
    """The billing address as the payment check read it (Stripe's field names)."""
    place = order.billing()
    if place is None:
        return None
    fields = {
        "country": place.country,
        "state": place.subdivision,
        "postal_code": place.postal_code,
    }
    return {k: v for k, v in fields.items() if v}


def screen_now(order: Order, engine: Engine, at: datetime | None = None) -> Screening:
    """The payment check run again now on the order's own address and billing country.
    An order whose products cannot be read is refused (fail closed)."""
    from bonestore.service.payments import Screening, screen_payment

    try:
        return screen_payment(order, session_of(order), engine, at)
    except (KeyError, TypeError, ValueError) as exc:
        reason = {
            "rule_id": "payment-check",
            "code": "unreadable_order",
            "message": f"The order's products or address cannot be read: {exc}",
        }
        return Screening(eligible=False, reasons=[reason], eligibility={"eligible": False})


class SupportResolutions:
    """Release and refund of orders by staff. Adapters come in as factories, so a
    release never builds the Stripe client and a refund never loads the rules."""

    def __init__(
        self,
        orders: OrderStore,
        *,
        engine: Callable[[], Engine],
        gateway: Callable[[], PaymentGateway],
        follow_up: Callable[[Order], None],
    ) -> None:
        self.orders = orders
        self._engine = engine
        self._gateway = gateway
        self._follow_up = follow_up

    def _get(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"No order with id {order_id!r}.", code="order_not_found")
        return order

    def release(self, order_id: str, *, reason: str, staff: str) -> Order:
        """``held`` -> ``paid`` (stock committed, ``OrderPaid`` published) if the rules
        permit the order now; else StillNotShippable with the reasons."""
        order = self._get(order_id)
        if order.status != "held":
            raise InvalidTransition(
                f"Only a held order can be released; this one is {order.status}."
            )
        engine = self._engine()
        screening = screen_now(order, engine)
        if not screening.eligible:
            raise StillNotShippable(
                "The rules still refuse this order on its address and billing country.",
                details=screening.reasons,
            )
        event = OrderEvent(
            RELEASED, {"by": staff, "reason": reason, "ruleset_version": engine.version}
        )
        moved = self.orders.transition(order, "paid", event=event)
        if moved is None:
            return self._already(order_id, "paid", "released")
        self._follow_up(moved)
        return self.orders.get(order_id) or moved

    def refund(self, order_id: str, *, reason: str, staff: str) -> Order:
        """``held`` or ``paid`` -> ``refunded``, refunded in full through the gateway once.
        A retry of a refund that already happened answers the refunded order."""
        order = self._get(order_id)
        if order.status == "refunded" and order.refund_id:
            return order
        if order.status not in REFUNDABLE:
            raise InvalidTransition(
                f"Only a held or paid order can be refunded; this one is {order.status}."
            )
        if not order.payment_intent_id:
            raise NoPaymentToRefund("The order names no payment to refund.")
        refund_id = self._gateway().refund(order.payment_intent_id, order_id=order_id)
        detail: dict[str, Any] = {"by": staff, "reason": reason, "refund_id": refund_id}
        moved = self.orders.transition(
            order,
            "refunded",
            event=OrderEvent(REFUNDED, detail),
            updated=replace(order, refund_id=refund_id),
        )
        return moved or self._already(order_id, "refunded", "refunded")

    def _already(self, order_id: str, status: str, verb: str) -> Order:
        """Someone moved the order first: fine if it is where we wanted it."""
        latest = self._get(order_id)
        if latest.status != status:
            raise InvalidTransition(f"The order is {latest.status} now; it was not {verb}.")
        return latest
