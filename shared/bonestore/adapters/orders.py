"""The orders table, and the stock counters that move with an order's status.

Every change of status is one DynamoDB transaction: the order's conditional
update (it must still be in a status the move starts from) together with the
product stock updates, so stock is reserved, released or committed exactly once
whatever order Stripe's events arrive in, and however often.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bonestore.adapters.dynamo import from_item, to_item
from bonestore.domain.errors import Conflict, InvalidInput
from bonestore.domain.orders import STOCK_ON_ENTER, check_transition, now_iso, sources_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB transactions hold at most 100 actions: the order plus one per product.
MAX_STOCKED_SKUS = 99
PENDING = "pending"


class OutOfStock(Conflict):
    code = "out_of_stock"


def _serialize(value: Any) -> dict[str, Any]:
    item = to_item({"v": value})
    return item["v"]  # type: ignore[no-any-return]


class OrderRepository:
    def __init__(self, client: DynamoDBClient, orders_table: str, products_table: str) -> None:
        self._client = client
        self._orders = orders_table
        self._products = products_table

    # -- reads -------------------------------------------------------------------------

    def get(self, order_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._orders, Key={"order_id": {"S": order_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def find_by_email(
        self, email: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, paginated; ``next_token`` is opaque to callers."""
        request: dict[str, Any] = {
            "TableName": self._orders,
            "IndexName": "by_email",
            "KeyConditionExpression": "email_lc = :e",
            "ExpressionAttributeValues": {":e": {"S": email.strip().lower()}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            try:
                request["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(next_token))
            except ValueError:
                raise InvalidInput("next_token is not valid.", code="invalid_next_token") from None
        response = self._client.query(**request)
        items = [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return items, token

    def expired_reservations(self, now: str, *, limit: int = 100) -> list[str]:
        """Orders still holding stock whose checkout expired before ``now`` (ISO)."""
        response = self._client.query(
            TableName=self._orders,
            IndexName="by_reservation_expiry",
            KeyConditionExpression="reservation_state = :p AND reservation_expires_at < :now",
            ExpressionAttributeValues={":p": {"S": PENDING}, ":now": {"S": now}},
            Limit=limit,
        )
        return [item["order_id"]["S"] for item in response.get("Items", [])]

    def scan_recent(self, since: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Orders created at or after ``since`` (for rule-change previews)."""
        from bonestore.adapters.dynamo import scan_all

        found = []
        for order in scan_all(
            self._client,
            self._orders,
            FilterExpression="created_at >= :s",
            ExpressionAttributeValues={":s": {"S": since}},
        ):
            found.append(order)
            if len(found) >= limit:
                break
        return found

    # -- writes ------------------------------------------------------------------------

    def create_with_reservation(self, order: dict[str, Any]) -> None:
        """Put a new pending order and reserve its stock, all or nothing.

        ``order["stock_lines"]`` lists ``{"sku", "quantity"}`` of physical goods (one entry
        per SKU). Raises OutOfStock naming the SKUs that could not be reserved.
        """
        lines = order.get("stock_lines", [])
        if len(lines) > MAX_STOCKED_SKUS:
            raise InvalidInput(
                f"A cart may hold at most {MAX_STOCKED_SKUS} different physical products.",
                code="invalid_items",
            )
        stored = dict(order)
        stored["stock_state"] = "reserved" if lines else "none"
        if lines:
            stored["reservation_state"] = PENDING
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._orders,
                    "Item": to_item(stored),
                    "ConditionExpression": "attribute_not_exists(order_id)",
                }
            }
        ]
        for line in lines:
            actions.append(
                {
                    "Update": {
                        "TableName": self._products,
                        "Key": {"sku": {"S": line["sku"]}},
                        "UpdateExpression": "SET stock = stock - :q, reserved = if_not_exists(reserved, :zero) + :q",
                        "ConditionExpression": "attribute_exists(sku) AND active = :true AND stock >= :q",
                        "ExpressionAttributeValues": {
                            ":q": {"N": str(line["quantity"])},
                            ":zero": {"N": "0"},
                            ":true": {"BOOL": True},
                        },
                    }
                }
            )
        client = self._client
        try:
            client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            failed = [
                lines[index - 1]["sku"]
                for index, reason in enumerate(reasons)
                if index > 0 and reason.get("Code") == "ConditionalCheckFailed"
            ]
            if failed:
                raise OutOfStock(
                    f"Not enough stock for {', '.join(failed)}.",
                    details=[{"sku": sku} for sku in failed],
                ) from None
            raise

    def transition(
        self,
        order_id: str,
        target: str,
        *,
        event: dict[str, Any],
        fields: dict[str, Any] | None = None,
        current: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Move the order to ``target`` and apply the stock effect, atomically.

        Returns the updated order, or None when the order is no longer in a status
        ``target`` can be entered from (a duplicate or out-of-order event): then the
        event is recorded on the timeline and nothing else changes.
        """
        order = current or self.get(order_id)
        if order is None:
            return None
        if target not in STOCK_ON_ENTER or order["status"] not in sources_of(target):
            self.record_event(
                order_id, {**event, "detail": {**event.get("detail", {}), "ignored": True}}
            )
            return None
        check_transition(order["status"], target)
        effect = STOCK_ON_ENTER[target]
        stock_state = order.get("stock_state", "none")
        sets = {"status": target, "updated_at": now_iso(), **(fields or {})}
        values: dict[str, Any] = {":expected": {"S": order["status"]}, ":ev": _serialize([event])}
        names: dict[str, str] = {"#status": "status"}
        assignments = []
        for index, (key, value) in enumerate(sets.items()):
            names[f"#f{index}"] = key
            values[f":f{index}"] = _serialize(value)
            assignments.append(f"#f{index} = :f{index}")
        assignments.append("events = list_append(if_not_exists(events, :empty), :ev)")
        values[":empty"] = {"L": []}
        new_stock_state = stock_state
        product_updates: list[dict[str, Any]] = []
        if stock_state == "reserved" and effect in ("release", "commit"):
            new_stock_state = "released" if effect == "release" else "committed"
            for line in order.get("stock_lines", []):
                expression = (
                    "SET stock = stock + :q, reserved = reserved - :q"
                    if effect == "release"
                    else "SET reserved = reserved - :q"
                )
                product_updates.append(
                    {
                        "Update": {
                            "TableName": self._products,
                            "Key": {"sku": {"S": line["sku"]}},
                            "UpdateExpression": expression,
                            "ExpressionAttributeValues": {":q": {"N": str(line["quantity"])}},
                        }
                    }
                )
        elif stock_state == "committed" and target == "refunded":
            new_stock_state = (
                "committed"  # sold goods come back only through a return, not a refund
            )
        names["#stock_state"] = "stock_state"
        values[":stock_state"] = {"S": new_stock_state}
        assignments.append("#stock_state = :stock_state")
        update = {
            "Update": {
                "TableName": self._orders,
                "Key": {"order_id": {"S": order_id}},
                "UpdateExpression": "SET "
                + ", ".join(assignments)
                + " REMOVE reservation_state, reservation_expires_at",
                "ConditionExpression": "#status = :expected",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        client = self._client
        try:
            client.transact_write_items(TransactItems=[update, *product_updates])  # type: ignore[list-item]
        except client.exceptions.TransactionCanceledException:
            # Someone else moved the order first: re-read and let the caller see the winner.
            latest = self.get(order_id)
            if latest is not None and latest["status"] != order["status"]:
                return self.transition(order_id, target, event=event, fields=fields, current=latest)
            raise
        return self.get(order_id)

    def record_event(self, order_id: str, event: dict[str, Any]) -> None:
        self._client.update_item(
            TableName=self._orders,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET events = list_append(if_not_exists(events, :empty), :ev)",
            ConditionExpression="attribute_exists(order_id)",
            ExpressionAttributeValues={":ev": _serialize([event]), ":empty": {"L": []}},
        )

    def update_fields(
        self,
        order_id: str,
        fields: dict[str, Any],
        *,
        expected_status: str,
        event: dict[str, Any] | None = None,
        remove: Sequence[str] = (),
    ) -> None:
        """Set plain fields (e.g. Stripe ids) on an order still in ``expected_status``,
        optionally recording ``event`` on its timeline and removing attributes."""
        names = {"#status": "status"}
        values: dict[str, Any] = {":expected": {"S": expected_status}}
        assignments = []
        for index, (key, value) in enumerate(fields.items()):
            names[f"#f{index}"] = key
            values[f":f{index}"] = _serialize(value)
            assignments.append(f"#f{index} = :f{index}")
        if event is not None:
            assignments.append("events = list_append(if_not_exists(events, :empty), :ev)")
            values[":ev"] = _serialize([event])
            values[":empty"] = {"L": []}
        removals = ""
        if remove:
            for index, key in enumerate(remove):
                names[f"#r{index}"] = key
            removals = " REMOVE " + ", ".join(f"#r{index}" for index in range(len(remove)))
        self._client.update_item(
            TableName=self._orders,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET " + ", ".join(assignments) + removals,
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def merge_stock_lines(lines: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """One entry per SKU (a transaction may touch an item once)."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        totals[sku] = totals.get(sku, 0) + quantity
    return [{"sku": sku, "quantity": qty} for sku, qty in sorted(totals.items())]
