"""Fulfilment: a paid order is handed to the warehouse only after the rules run once more,
and the warehouse's shipment moves it to ``fulfilled``.

``hand_over`` runs for each ``OrderPaid`` (at least once: SQS may deliver twice). It
re-runs the payment check (``bonestore.service.resolutions.screen_now``) on the order's
own address and billing country with the rules as they are at that moment:

- permitted: ``OrderReadyToShip`` is published, then ``handed_to_warehouse`` is
  recorded (in that order, so a failure between the two re-publishes on the retry
  rather than losing the hand-over; the warehouse keys on the order id);
- refused: the order moves ``paid`` -> ``held`` with the refusing rules as its
  reasons, for support (a rule changed since payment: the inputs did not), and the
  customer gets the held email (why, in the rule's words, and that support will write).

An order that is no longer ``paid``, or was already handed over, is left alone, so a
duplicate message changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bonestore.domain.errors import NotFound
from bonestore.domain.order import Order, OrderEvent, OrderMoved, Shipment
from bonestore.domain.orders import InvalidTransition, now_iso
from bonestore.service import metrics as m

if TYPE_CHECKING:
    from bonestore.domain.rules import Engine
    from bonestore.service.payments import CustomerEmails
    from bonestore.service.ports import BusinessMetrics, OrderEventPublisher, OrderStore

log = logging.getLogger("bonestore.service.fulfilment")

HANDED_OVER = "handed_to_warehouse"
HELD_AT_FULFILMENT = "held_at_fulfilment"
SHIPPED = "shipped"


@dataclass(frozen=True)
class HandOver:
    """What fulfilment did with one OrderPaid."""

    order_id: str
    outcome: str  # handed_over | held | already_handed_over | not_paid | unknown_order
    rule_ids: tuple[str, ...] = ()


class Fulfilment:
    def __init__(
        self,
        orders: OrderStore,
        *,
        engine: Callable[[], Engine],
        publisher: Callable[[], OrderEventPublisher],
        metrics: BusinessMetrics = m.NO_METRICS,
        emails: CustomerEmails | None = None,
    ) -> None:
        self.orders = orders
        self._engine = engine
        self._publisher = publisher
        self.metrics = metrics
        self.emails = emails

    def hand_over(self, order_id: str) -> HandOver:
        from bonestore.service.resolutions import screen_now

        order = self.orders.get(order_id)
        if order is None:
            log.warning("OrderPaid for unknown order %s: dropped", order_id)
            return HandOver(order_id, "unknown_order")
        if order.status != "paid":
            return HandOver(order_id, "not_paid")
        if any(event.type == HANDED_OVER for event in order.events):
            return HandOver(order_id, "already_handed_over")
        engine = self._engine()
        screening = screen_now(order, engine)
        then = (order.eligibility_at_payment or {}).get("ruleset_version")
        versions = {"ruleset_version_at_payment": then, "ruleset_version": engine.version}
        if screening.eligible:
            self._publisher().order_ready_to_ship(order)
            try:
                self.orders.save(order, order, event=OrderEvent(HANDED_OVER, versions))
            except OrderMoved:
                log.warning("order %s left paid while being handed over", order_id)
            return HandOver(order_id, "handed_over")
        rule_ids = tuple(sorted({str(r.get("rule_id")) for r in screening.reasons}))
        moved = self.orders.transition(
            order,
            "held",
            event=OrderEvent(HELD_AT_FULFILMENT, {"rule_ids": list(rule_ids), **versions}),
            updated=replace(order, hold_reasons=tuple(screening.reasons)),
        )
        if moved is None:
            return HandOver(order_id, "not_paid")
        self.metrics.count(m.FULFILMENT_REFUSED)
        self.metrics.count(m.ORDERS_HELD)
        for rule_id in rule_ids:
            self.metrics.count(m.ORDERS_HELD_BY_RULE, by=rule_id)
        if self.emails is not None:
            # The customer was told "paid, packing": now why it is held and what support does.
            self.emails.notify(self.orders, moved, will_refund=False)
        log.warning(
            "order %s held at fulfilment: %s refuses it now (ruleset %s at payment, %s now)",
            order_id,
            ", ".join(rule_ids),
            then,
            engine.version,
        )
        return HandOver(order_id, "held", rule_ids)


class Shipments:
    """The warehouse's side: a parcel that left moves its order to ``fulfilled``, and the
    customer is told by email (carrier, tracking number, the order page's link).

    The email goes through :class:`~bonestore.service.payments.CustomerEmails`, once per
    order like the paid/held/refunded ones (``email_sent`` on the timeline): a retried
    request answers the fulfilled order and sends nothing more, and a retry after a
    failed send (``email_failed``) or a crash between the move and the send sends it then.
    """

    def __init__(self, orders: OrderStore, *, emails: CustomerEmails | None = None) -> None:
        self.orders = orders
        self.emails = emails

    def ship(self, order_id: str, *, carrier: str, tracking_number: str, staff: str) -> Order:
        """The parcel left: ``paid`` -> ``fulfilled`` with the shipment. Repeating the same
        shipment answers the fulfilled order; anything else is InvalidTransition."""
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"No order with id {order_id!r}.", code="order_not_found")
        same = [
            s
            for s in order.shipments
            if (s.carrier, s.tracking_number) == (carrier, tracking_number)
        ]
        if order.status == "fulfilled" and same:
            return self._notify(order)
        if order.status != "paid":
            raise InvalidTransition(f"Only a paid order can ship; this one is {order.status}.")
        shipment = Shipment(carrier, tracking_number, now_iso())
        detail: dict[str, Any] = {
            "carrier": carrier,
            "tracking_number": tracking_number,
            "by": staff,
        }
        moved = self.orders.transition(
            order,
            "fulfilled",
            event=OrderEvent(SHIPPED, detail),
            updated=replace(order, shipments=(*order.shipments, shipment)),
        )
        if moved is None:
            latest = self.orders.get(order_id) or order
            if latest.status == "fulfilled":
                return self._notify(latest)
            raise InvalidTransition(f"The order is {latest.status} now; it did not ship.")
        return self._notify(moved)

    def _notify(self, order: Order) -> Order:
        """The shipped email, unless already sent; the order as it is after it."""
        if self.emails is None or self.emails.notify(self.orders, order, will_refund=False) is None:
            return order
        return self.orders.get(order.order_id) or order
