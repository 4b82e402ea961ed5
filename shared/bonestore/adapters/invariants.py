"""Reads the products and orders tables for ``bonestore.service.invariants``.

Only the attributes the checks use are read (an order's timeline can be long), with
consistent reads, so a check right after a write sees it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bonestore.adapters.dynamo import scan_all
from bonestore.service.invariants import Violation, check_invariants

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PRODUCT_ATTRIBUTES = ("sku", "kind", "stock", "reserved", "sold", "received", "attributes")
ORDER_ATTRIBUTES = (
    "order_id",
    "status",
    "stock_state",
    "stock_lines",
    "amount_total",
    "payment_intent_id",
    "reservation_state",
    "reservation_expires_at",
)


def _scan(client: DynamoDBClient, table: str, attributes: tuple[str, ...]) -> list[dict[str, Any]]:
    names = {f"#p{index}": name for index, name in enumerate(attributes)}
    return list(
        scan_all(
            client,
            table,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
            ConsistentRead=True,
        )
    )


def check_tables(
    client: DynamoDBClient,
    products_table: str,
    orders_table: str,
    *,
    reservation_lag: timedelta,
    skus: Collection[str] | None = None,
    vocabulary: Collection[str] | None = None,
    now: datetime | None = None,
) -> list[Violation]:
    """The invariants' violations in the tables as they are now.

    Orders are read before products: a checkout that lands between the two scans then
    shows as stock the products hold but no order claims (a false ``reserved_mismatch``),
    never the reverse; callers on a live store confirm a violation by checking again.
    """
    orders = _scan(client, orders_table, ORDER_ATTRIBUTES)
    products = _scan(client, products_table, PRODUCT_ATTRIBUTES)
    return check_invariants(
        products,
        orders,
        now=now or datetime.now(UTC),
        reservation_lag=reservation_lag,
        skus=skus,
        vocabulary=vocabulary,
    )
