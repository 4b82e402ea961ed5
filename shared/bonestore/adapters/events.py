"""Domain events to EventBridge: ``OrderPaid`` tells fulfilment an order may ship."""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from bonestore.domain.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

    from bonestore.domain.order import Order

log = logging.getLogger("bonestore.events")
SOURCE = "bonestore.orders"


@cache
def events_client() -> EventBridgeClient:
    from bonestore.adapters.aws import aws_client

    return cast("EventBridgeClient", aws_client("events"))


def order_paid_detail(order: Order) -> dict[str, Any]:
    """What fulfilment needs: lines, where it ships (the address paid for), totals."""
    ships_to = order.shipping_address.destination() if order.shipping_address else None
    destination = ships_to or order.destination
    return {
        "order_id": order.order_id,
        "items": [{"sku": line.sku, "quantity": line.quantity} for line in order.lines],
        "destination": destination.as_json() if destination else None,
        "shipping": order.shipping_method.as_json() if order.shipping_method else None,
        "amount_total": order.amount_total.as_json(),
        "ruleset_version": (order.eligibility_at_payment or {}).get("ruleset_version"),
        "stripe_session_id": order.stripe_session_id,
    }


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def order_paid(self, order: Order) -> None:
        self._put("OrderPaid", order_paid_detail(order))

    def order_ready_to_ship(self, order: Order) -> None:
        """The warehouse's cue: the rules were run again just now and permit the order."""
        self._put("OrderReadyToShip", order_paid_detail(order))

    def _put(self, detail_type: str, detail: dict[str, Any]) -> None:
        response = self._client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                    "EventBusName": self._bus,
                    "Resources": [],
                }
            ]
        )
        if response.get("FailedEntryCount"):
            log.error("%s not published: %s", detail_type, response.get("Entries"))
            raise UpstreamUnavailable(
                f"Could not publish {detail_type}.", code="event_bus_unavailable"
            )
