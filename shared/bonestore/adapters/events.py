"""Domain events to EventBridge: ``OrderPaid`` tells fulfilment an order may ship."""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from bonestore.domain.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

log = logging.getLogger("bonestore.events")
SOURCE = "bonestore.orders"


class OrderEventPublisher(Protocol):
    def order_paid(self, order: dict[str, Any]) -> None: ...


@cache
def events_client() -> EventBridgeClient:
    import boto3

    return boto3.client("events")


def order_paid_detail(order: dict[str, Any]) -> dict[str, Any]:
    """What fulfilment needs: lines, destination (address comes from Stripe), totals."""
    return {
        "order_id": order["order_id"],
        "items": [{"sku": line["sku"], "quantity": line["quantity"]} for line in order["items"]],
        "destination": order.get("shipping_address") or order.get("destination"),
        "shipping": order.get("shipping"),
        "amount_total": order.get("amount_total"),
        "ruleset_version": (order.get("eligibility_at_payment") or {}).get("ruleset_version"),
        "stripe_session_id": order.get("stripe_session_id"),
    }


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def order_paid(self, order: dict[str, Any]) -> None:
        response = self._client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": "OrderPaid",
                    "Detail": json.dumps(order_paid_detail(order), default=str),
                    "EventBusName": self._bus,
                    "Resources": [],
                }
            ]
        )
        if response.get("FailedEntryCount"):
            log.error("OrderPaid not published: %s", response.get("Entries"))
            raise UpstreamUnavailable("Could not publish OrderPaid.", code="event_bus_unavailable")
