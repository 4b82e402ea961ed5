"""Reservation sweeper (scheduled): releases stock held by checkouts nobody finished.

Stripe normally tells us with ``checkout.session.expired``; this catches the orders
whose event never came (or whose session was never created). It queries the sparse
``by_reservation_expiry`` index (never DynamoDB TTL, which is late by hours and which
moto never applies), waits a grace period past the session's expiry, and asks Stripe
to expire the session before releasing: a session that was paid meanwhile is settled
as the webhook would have, never released.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.adapters.dynamo import dynamodb_client
from bonestore.adapters.orders import OrderRepository
from bonestore.config import get_settings
from bonestore.domain.orders import timeline_event

logger = Logger()
GRACE_SECONDS = 300
BATCH = 100
MAX_BATCHES = 20
MIN_REMAINING_MS = 5000


class Dependencies:
    def __init__(self) -> None:
        self.orders: OrderRepository | None = None
        self.gateway: Any = None
        self.service: Any = None

    def order_repository(self) -> OrderRepository:
        if self.orders is None:
            settings = get_settings()
            self.orders = OrderRepository(
                dynamodb_client(), settings.orders_table, settings.products_table
            )
        return self.orders

    def payment_gateway(self) -> Any:
        if self.gateway is None:
            from bonestore.adapters.secrets import StripeSecrets
            from bonestore.adapters.stripe_gateway import StripeGateway

            settings = get_settings()
            secrets = StripeSecrets(settings.stripe_secret_name)
            self.gateway = StripeGateway(lambda: secrets.keys().api_key, settings.stripe_api_base)
        return self.gateway

    def payment_service(self) -> Any:
        if self.service is None:
            from bonestore.adapters.events import EventBridgePublisher, events_client
            from bonestore.domain.rules import default_engine
            from bonestore.service.payments import PaymentService

            settings = get_settings()
            self.service = PaymentService(
                self.order_repository(),
                engine=default_engine,
                publisher=lambda: EventBridgePublisher(events_client(), settings.event_bus_name),
                gateway=self.payment_gateway,
                on_ineligible=settings.on_ineligible_payment,
            )
        return self.service


deps = Dependencies()


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sweep_order(order_id: str) -> str:
    """Release one stale reservation (or settle it if it was paid). Returns what happened."""
    orders = deps.order_repository()
    order = orders.get(order_id)
    if order is None or order["status"] != "pending_payment":
        return "skipped"
    session_id = order.get("stripe_session_id")
    if session_id:
        session = deps.payment_gateway().expire_checkout_session(session_id)
        if session.get("status") == "complete":
            event = timeline_event(
                "sweeper_found_completed_session", {"session_id": session_id, "by": "sweeper"}
            )
            if session.get("payment_status") in ("paid", "no_payment_required"):
                deps.payment_service().settle(order, session, event)
                return "settled"
            orders.update_fields(
                order_id,
                {"reservation_state": "awaiting_payment"},
                expected_status="pending_payment",
                event=event,
            )
            return "awaiting_payment"
    updated = orders.transition(
        order_id,
        "expired",
        event=timeline_event("reservation_swept", {"session_id": session_id, "by": "sweeper"}),
        current=order,
    )
    return "released" if updated else "skipped"


def sweep(now: datetime | None = None, context: LambdaContext | None = None) -> dict[str, int]:
    cutoff = iso((now or datetime.now(UTC)) - timedelta(seconds=GRACE_SECONDS))
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for _ in range(MAX_BATCHES):
        ids = [i for i in deps.order_repository().expired_reservations(cutoff, limit=BATCH)]
        fresh = [i for i in ids if i not in seen]
        if not fresh:
            break
        for order_id in fresh:
            seen.add(order_id)
            if context is not None and context.get_remaining_time_in_millis() < MIN_REMAINING_MS:
                counts["deferred"] = counts.get("deferred", 0) + 1
                continue
            try:
                outcome = sweep_order(order_id)
            except Exception:
                logger.exception("could not sweep order", extra={"order_id": order_id})
                outcome = "failed"
            counts[outcome] = counts.get(outcome, 0) + 1
    counts["checked"] = len(seen)
    return counts


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    counts = sweep(context=context)
    logger.info(
        "reservations swept",
        extra={**counts, "duration_ms": round((time.monotonic() - started) * 1000)},
    )
    return counts
