"""The products table: one item per SKU, with its live stock counters.

A physical product's item carries four counters, moved only by conditional or
transactional updates (never a read-then-write):

- ``stock``: units for sale now (a checkout takes from it, an expiry gives back);
- ``reserved``: units held by open checkouts and held orders;
- ``sold``: units of paid orders (``bonestore.adapters.orders`` adds them at payment);
- ``received``: every unit ever put on hand; changes only when ops set the stock.

so that ``stock + reserved + sold == received`` always holds
(``bonestore.service.invariants`` checks it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bonestore.adapters.dynamo import from_item, scan_all, to_item
from bonestore.domain.errors import Conflict
from bonestore.domain.product_view import listing_order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from bonestore.domain.catalog import Product


BATCH_GET_MAX_KEYS = 100  # DynamoDB's limit for one BatchGetItem


class StockBelowReserved(Conflict):
    code = "stock_below_reserved"


class ReservedKindChange(Conflict):
    code = "stock_reserved"


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
        """Active products by SKU: one BatchGetItem round trip per 100 distinct SKUs (the
        most one request takes); none for no SKU (BatchGetItem refuses an empty request)."""
        keys = [{"sku": {"S": sku}} for sku in dict.fromkeys(skus)]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            chunk = keys[start : start + BATCH_GET_MAX_KEYS]
            request: dict[str, Any] = {self._table: {"Keys": chunk, "ConsistentRead": True}}
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
        """Create or replace a product's catalog attributes and set its stock on hand.

        One conditional UpdateItem, never a read-then-write: checkouts move ``stock`` and
        ``reserved`` concurrently, and a replace must not undo their moves. ``product.stock``
        is the units on hand not yet sold (for sale plus held by open checkouts), so the
        units for sale become ``product.stock - reserved`` at the moment of the write and
        ``received`` becomes ``product.stock + sold``: every counter keeps
        ``stock + reserved + sold == received``. Raises StockBelowReserved when fewer units
        than the open checkouts hold are declared, and ReservedKindChange when a product
        with open reservations is turned digital. Returns the item as it was before (empty
        for a new product).
        """
        from bonestore.domain.orders import now_iso  # off the catalog's cold path (reads only)

        data = product.model_dump(mode="python", exclude_none=True, exclude={"sku", "stock"})
        now = now_iso()
        names: dict[str, str] = {}
        values: dict[str, Any] = {":zero": {"N": "0"}, ":now": {"S": now}}
        assignments = ["updated_at = :now", "created_at = if_not_exists(created_at, :now)"]
        for index, (key, value) in enumerate(data.items()):
            names[f"#a{index}"] = key
            values[f":a{index}"] = to_item({"v": value})["v"]
            assignments.append(f"#a{index} = :a{index}")
        removals = ""
        if product.stock is not None:
            values[":on_hand"] = {"N": str(product.stock)}
            assignments += [
                "stock = :on_hand - if_not_exists(reserved, :zero)",
                "reserved = if_not_exists(reserved, :zero)",
                "sold = if_not_exists(sold, :zero)",
                "received = :on_hand + if_not_exists(sold, :zero)",
            ]
            condition = "attribute_not_exists(reserved) OR reserved <= :on_hand"
        else:  # digital goods have no stock; sold and received stay as history
            removals = " REMOVE stock"
            condition = "attribute_not_exists(reserved) OR reserved = :zero"
        client = self._client
        try:
            response = client.update_item(
                TableName=self._table,
                Key={"sku": {"S": product.sku}},
                UpdateExpression="SET " + ", ".join(assignments) + removals,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            current = self.get(product.sku, include_inactive=True) or {}
            reserved = int(current.get("reserved", 0))
            if product.stock is None:
                raise ReservedKindChange(
                    f"{product.sku} has {reserved} units held by open checkouts; it cannot "
                    "become digital until they are paid or released.",
                    details=[{"sku": product.sku, "reserved": reserved}],
                ) from None
            raise StockBelowReserved(
                f"{product.sku}: stock {product.stock} is less than the {reserved} units "
                "open checkouts hold; declare at least that many, or deactivate the product.",
                details=[{"sku": product.sku, "reserved": reserved}],
            ) from None
        return from_item(response.get("Attributes", {}))

    def seed(self, products: Iterable[Product]) -> int:
        """Insert products that are not there yet; never overwrites live stock. Returns how many."""
        from bonestore.domain.orders import now_iso

        created = 0
        for product in products:
            data = product.model_dump(mode="python", exclude_none=True)
            now = now_iso()
            data.update(updated_at=now, created_at=now)
            if product.stock is not None:
                data.update(reserved=0, sold=0, received=product.stock)
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
        from bonestore.domain.orders import now_iso

        try:
            self._client.update_item(
                TableName=self._table,
                Key={"sku": {"S": sku}},
                UpdateExpression="SET active = :false, updated_at = :now",
                ConditionExpression="attribute_exists(sku)",
                ExpressionAttributeValues={
                    ":false": {"BOOL": False},
                    ":now": {"S": now_iso()},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
