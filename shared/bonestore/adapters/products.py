"""The products table: one item per SKU, with its live stock counters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bonestore.adapters.dynamo import from_item, scan_all, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from bonestore.domain.catalog import Product


class ProductRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, sku: str, *, include_inactive: bool = False) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key={"sku": {"S": sku}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return None
        product = from_item(item)
        if not include_inactive and not product.get("active", True):
            return None
        return product

    def get_many(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Active products by SKU, in one BatchGetItem round trip (up to 100 keys)."""
        keys = [{"sku": {"S": sku}} for sku in dict.fromkeys(skus)]
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = self._client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                product = from_item(item)
                if product.get("active", True):
                    found[product["sku"]] = product
            request = response.get("UnprocessedKeys") or {}
        return found

    def list(self, *, include_inactive: bool = False) -> list[dict[str, Any]]:
        items = scan_all(self._client, self._table)
        products = [p for p in items if include_inactive or p.get("active", True)]
        return sorted(products, key=listing_order)

    def put(self, product: Product) -> dict[str, Any]:
        """Create or replace a product's description and stock; keeps the reservation counter."""
        data = product.model_dump(mode="python", exclude_none=True)
        data["updated_at"] = datetime.now(UTC).isoformat()
        existing = self.get(product.sku, include_inactive=True)
        data["reserved"] = (existing or {}).get("reserved", 0)
        self._client.put_item(TableName=self._table, Item=to_item(data))
        return data

    def seed(self, products: Iterable[Product]) -> int:
        """Insert products that are not there yet; never overwrites live stock. Returns how many."""
        created = 0
        for product in products:
            data = product.model_dump(mode="python", exclude_none=True)
            data["reserved"] = 0
            data["updated_at"] = datetime.now(UTC).isoformat()
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(data),
                    ConditionExpression="attribute_not_exists(sku)",
                )
                created += 1
            except self._client.exceptions.ConditionalCheckFailedException:
                continue
        return created

    def deactivate(self, sku: str) -> bool:
        """Soft delete: kept for existing orders, hidden from the storefront."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"sku": {"S": sku}},
                UpdateExpression="SET active = :false, updated_at = :now",
                ConditionExpression="attribute_exists(sku)",
                ExpressionAttributeValues={
                    ":false": {"BOOL": False},
                    ":now": {"S": datetime.now(UTC).isoformat()},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def listing_order(item: dict[str, Any]) -> tuple[int, str]:
    """Catalog order: ``position`` (products stored before it existed come last), then SKU."""
    return int(item.get("position", 1000)), str(item["sku"])
