"""Sweeping reservations: release stock held by checkouts nobody finished.

Stripe normally tells us with ``checkout.session.expired``; this catches the orders
whose event never came (or whose session was never created). It reads the orders
whose reservation expired a grace period ago (the store's sparse expiry index, never
DynamoDB TTL, which is late by hours and which moto never applies), and asks the
provider to expire the session before releasing: a session that was paid meanwhile
is settled as the webhook would have, never released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bonestore import log_context
from bonestore.domain.order import OrderEvent
from bonestore.domain.orders import iso
from bonestore.service import metrics as m

if TYPE_CHECKING:
    from bonestore.service.payments import PaymentService
    from bonestore.service.ports import BusinessMetrics, OrderStore, PaymentGateway

log = logging.getLogger("bonestore.service.reservations")
GRACE_SECONDS = 300
BATCH = 100
MAX_BATCHES = 20


class ReservationSweeper:
    def __init__(
        self,
        orders: OrderStore,
        *,
        gateway: Callable[[], PaymentGateway],
        payments: Callable[[], PaymentService],
        metrics: BusinessMetrics = m.NO_METRICS,
    ) -> None:
        self.orders = orders
        self.metrics = metrics
        self._gateway = gateway
        self._payments = payments

    def sweep_order(self, order_id: str) -> str:
        """Release one stale reservation (or settle it if it was paid). Returns what happened."""
        order = self.orders.get(order_id)
        if order is None or order.status != "pending_payment":
            return "skipped"
        session_id = order.stripe_session_id
        if session_id:
            session = self._gateway().expire_checkout_session(session_id)
            if session.status == "complete":
                event = OrderEvent(
                    "sweeper_found_completed_session", {"session_id": session_id, "by": "sweeper"}
                )
                if session.paid:
                    self._payments().settle(order, session, event)
                    return "settled"
                self.orders.save(order, replace(order, reservation="awaiting_payment"), event=event)
                return "awaiting_payment"
        updated = self.orders.transition(
            order,
            "expired",
            event=OrderEvent("reservation_swept", {"session_id": session_id, "by": "sweeper"}),
        )
        if updated is None:
            return "skipped"
        self.metrics.count(m.RESERVATIONS_RELEASED)
        return "released"

    def sweep(
        self, now: datetime | None = None, *, time_left: Callable[[], bool] = lambda: True
    ) -> dict[str, int]:
        """Sweep what expired before ``now`` less the grace period, while ``time_left()``;
        counts per outcome, and ``checked``."""
        cutoff = iso((now or datetime.now(UTC)) - timedelta(seconds=GRACE_SECONDS))
        counts: dict[str, int] = {}
        seen: set[str] = set()
        for _ in range(MAX_BATCHES):
            fresh = [
                i for i in self.orders.expired_reservations(cutoff, limit=BATCH) if i not in seen
            ]
            if not fresh:
                break
            for order_id in fresh:
                seen.add(order_id)
                if not time_left():
                    counts["deferred"] = counts.get("deferred", 0) + 1
                    continue
                with log_context.bound(order_id=order_id):
                    try:
                        outcome = self.sweep_order(order_id)
                    except Exception:
                        log.exception("could not sweep order %s", order_id)
                        outcome = "failed"
                counts[outcome] = counts.get(outcome, 0) + 1
        counts["checked"] = len(seen)
        return counts
