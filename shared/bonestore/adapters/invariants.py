"""Reads the products and orders tables for ``bonestore.service.invariants``.

Products as stored items (only the attributes the checks use), orders through the
repository's one translation of stored items (``order_from_record``); consistent
reads, so a check right after a write sees it. Orders are read before products: a
checkout that lands between the two scans then shows as stock a product holds that
no order claims (a false ``reserved_mismatch``), never the reverse, and callers on a
live store confirm a violation by reading again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bonestore.adapters.dynamo import scan_all
from bonestore.adapters.orders import order_from_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from bonestore.domain.order import Order

PRODUCT_ATTRIBUTES = ("sku", "kind", "stock", "reserved", "sold", "received", "attributes")


def read_stock_and_orders(
    client: DynamoDBClient, products_table: str, orders_table: str
) -> tuple[list[dict[str, Any]], list[Order]]:
    """(products, orders) as they are now."""
    orders = [
        order_from_record(item) for item in scan_all(client, orders_table, ConsistentRead=True)
    ]
    names = {f"#p{index}": name for index, name in enumerate(PRODUCT_ATTRIBUTES)}
    products = list(
        scan_all(
            client,
            products_table,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
            ConsistentRead=True,
        )
    )
    return products, orders
