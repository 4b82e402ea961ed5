"""The limits table: per-minute checkout counters, and how holders' counters are stored.

One table, three key spaces (``pk``): ``rate:<who>:<minute>`` (checkouts started in one
minute by one email or address), ``hold:<holder>`` (a holder's open reservations and
units per SKU, written inside the reservation's transaction by
``bonestore.adapters.orders``) and ``cart:<holder>:<cart>`` (the open checkout of one
cart). ``expires_at`` (epoch seconds) is both DynamoDB's TTL attribute and what every
read and condition compares with: an item past it counts as absent whether or not TTL
has deleted it (TTL runs days late, and moto never runs it).

Every write is one conditional update: two checkouts at once can never both take the
last place under a limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bonestore.domain.limits import WINDOW_SECONDS, HeldStock, rate_window, too_many_checkouts

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UNITS_PREFIX = "u:"


def hold_pk(holder: str) -> dict[str, Any]:
    return {"pk": {"S": f"hold:{holder}"}}


def held_stock(item: Mapping[str, Any] | None) -> HeldStock:
    """A stored ``hold:`` item (DynamoDB's wire form) as what it counts."""
    if not item:
        return HeldStock()

    def number(name: str) -> int:
        value = item.get(name, {}).get("N")
        return int(value) if value is not None else 0

    return HeldStock(
        open_reservations=number("open_reservations"),
        units={
            name[len(UNITS_PREFIX) :]: number(name)
            for name in item
            if name.startswith(UNITS_PREFIX)
        },
        expires_at=number("expires_at"),
    )


class CheckoutRateLimiter:
    """Counts checkouts per minute; raises 429 ``rate_limited`` past a key's limit.

    Fails closed: when the table cannot be reached or throttles, the checkout is refused
    with a retryable 503 (``StoreBusy``) - a flood throttling its own counter must not
    switch the limit off (docs/deploy.md#reservation-limits)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def hit(self, keys: list[tuple[str, int]], now: float) -> None:
        from bonestore.adapters.orders import StoreBusy

        window, retry_after = rate_window(now)
        client = self._client
        for key, limit in keys:
            try:
                client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": f"rate:{key}:{window}"}},
                    UpdateExpression="ADD hits :one SET expires_at = :expires",
                    ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                        ":expires": {"N": str((window + 2) * WINDOW_SECONDS)},
                    },
                )
            except client.exceptions.ConditionalCheckFailedException:
                raise too_many_checkouts(retry_after) from None
            except (ClientError, BotoCoreError) as exc:
                raise StoreBusy("The store is busy; nothing was reserved. Please retry.") from exc
