"""The orders table: the only module that knows how an order is stored.

``order_from_record``/``order_to_record`` translate between the stored item (plain
JSON after ``from_item``) and :class:`bonestore.domain.order.Order`; items written by
earlier versions still load (money as Money or as bare minor units, the shipping
address split over ``shipping_address`` and ``shipping_details``). AWS errors leave
as domain errors: ``OutOfStock``, ``OrderMoved``.

Every change of status is one DynamoDB transaction: the order's conditional update
(it must still be in a status the move starts from) together with the product stock
updates, so stock is reserved, released or committed exactly once whatever order
Stripe's events arrive in, and however often. The moves and their stock effects are
``bonestore.domain.orders``'s; this module only writes them.
"""

from __future__ import annotations

import base64
import json
import random
import time
import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from botocore.exceptions import ClientError

from bonestore.adapters.dynamo import from_item, plain, to_item
from bonestore.adapters.limits import UNITS_PREFIX, held_stock, hold_pk
from bonestore.domain.errors import InvalidInput, UpstreamUnavailable
from bonestore.domain.limits import CartAlreadyOpen, HeldStock, counter_expiry, hold_refusal
from bonestore.domain.order import (
    Address,
    Order,
    OrderEvent,
    OrderLine,
    OrderMoved,
    OutOfStock,
    Shipment,
    ShippingChoice,
    StockLine,
)
from bonestore.domain.orders import can_enter, check_transition, now_iso, stock_after

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from bonestore.domain.geo import Destination
    from bonestore.domain.limits import HoldLimits
    from bonestore.domain.money import Money

# DynamoDB transactions hold at most 100 actions: the order, the holder's counter, the
# cart's open checkout (bonestore.adapters.limits), and one per product.
MAX_STOCKED_SKUS = 97
# Error codes DynamoDB answers when it sheds load (botocore has retried them already).
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException"}
)


class StoreBusy(UpstreamUnavailable):
    """DynamoDB cancelled the reservation for another reason than stock (a concurrent
    transaction on the same item) or kept throttling past botocore's retries: nothing
    was written, so the client may simply retry."""

    code = "service_busy"
    retry_after = 1


PENDING: Final = "pending"
# The sparse expiry index is keyed on ``reservation_state``: one value for every open
# order would put them all in one index partition (a hot key in a flash sale), so open
# reservations are written as ``pending#0`` .. ``pending#{N-1}`` (by order id) and the
# sweeper queries every shard. Items written before the shards (bare ``pending``) are
# still read and still swept.
RESERVATION_SHARDS: Final = 8
# A transaction cancelled by another one on the same product (TransactionConflict,
# throttling) wrote nothing: try again after a jittered pause, then give up with a
# retryable 503 rather than a 500. Full jitter, exponential cap (AWS's backoff advice).
RESERVE_ATTEMPTS: Final = 4
_RETRY_BASE_S = 0.025
_RETRY_CAP_S = 0.25
_RETRYABLE_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
# Attributes a change never writes directly: the key, the status (moved by
# ``transition`` only), the timeline (appended), and what ``transition`` manages.
_NOT_CHANGED_DIRECTLY = frozenset({"order_id", "status", "events", "stock_state", "created_at"})
_RESERVATION = ("reservation_state", "reservation_expires_at")
# An order's claim on sending one kind of email: the epoch second it was claimed.
EMAIL_CLAIM_PREFIX = "email_claim_"


# -- translation ------------------------------------------------------------------------


def _stored(value: Any) -> Any:
    """Plain JSON to what DynamoDB stores (floats as exact decimals)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    return value


def _money(value: Any, currency: str) -> Money:
    """Stored as Money, or (older items) as bare minor units in the order's currency."""
    from bonestore.domain.money import Money

    if isinstance(value, Mapping):
        return Money(amount=int(value["amount"]), currency=str(value["currency"]))
    return Money(amount=int(value or 0), currency=currency)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _place(value: Any) -> Destination | None:
    """A stored destination (its known fields) as the domain's, None when there is none."""
    from bonestore.domain.geo import Destination

    stored = _mapping(value)
    if not stored:
        return None
    return Destination.model_validate(
        {k: v for k, v in stored.items() if k in Destination.model_fields}
    )


def _address(record: Mapping[str, Any]) -> Address | None:
    place = _mapping(record.get("shipping_address"))
    if not place or not _str(place.get("country")):
        return None
    details = _mapping(record.get("shipping_details")) or {}  # older items: Stripe's shape
    raw = _mapping(details.get("address")) or {}
    return Address(
        country=str(place["country"]),
        name=_str(place.get("name")) or _str(details.get("name")),
        line1=_str(place.get("line1")) or _str(raw.get("line1")),
        line2=_str(place.get("line2")) or _str(raw.get("line2")),
        city=_str(place.get("city")),
        subdivision=_str(place.get("subdivision")),
        postal_code=_str(place.get("postal_code")),
    )


def _address_record(address: Address | None) -> dict[str, Any] | None:
    return address.as_json() if address is not None else None


def _shipping(value: Any, currency: str) -> ShippingChoice | None:
    shipping = _mapping(value)
    if not shipping or not _str(shipping.get("method")):
        return None
    return ShippingChoice(
        method_id=str(shipping["method"]),
        name=str(shipping.get("name") or shipping["method"]),
        price=_money(shipping.get("price"), currency),
    )


def order_from_record(raw: Mapping[str, Any]) -> Order:
    """A stored order (plain JSON, as ``from_item`` gives it) as the domain's Order."""
    record = cast(dict[str, Any], plain(raw, fractions_as_float=True))
    currency = str(record.get("currency") or "USD").upper()
    destination = _mapping(record.get("destination"))
    allowed = record.get("allowed_countries")
    # ``pending#3`` (a shard of the expiry index) and the older bare ``pending`` alike.
    stored_reservation = str(record.get("reservation_state") or "").split("#", 1)[0]
    reservation = cast(
        'Literal["pending", "awaiting_payment"] | None',
        stored_reservation if stored_reservation in ("pending", "awaiting_payment") else None,
    )
    return Order(
        order_id=str(record["order_id"]),
        status=record["status"],
        created_at=str(record.get("created_at") or ""),
        updated_at=str(record.get("updated_at") or record.get("created_at") or ""),
        currency=currency,
        lines=tuple(
            OrderLine(
                sku=str(item["sku"]),
                quantity=int(item["quantity"]),
                unit_price=_money(item.get("unit_price"), currency),
                product=_mapping(item.get("product")) or {},
            )
            for item in record.get("items") or []
        ),
        amount_subtotal=_money(record.get("amount_subtotal"), currency),
        amount_total=_money(record.get("amount_total"), currency),
        email=_str(record.get("email")),
        destination=_place(destination),
        shipping_address=_address(record),
        shipping_method=_shipping(record.get("shipping"), currency),
        billing_country=_str(record.get("billing_country")),
        billing_place=_place(record.get("billing_place")),
        eligibility_at_checkout=_mapping(record.get("eligibility_at_checkout")),
        eligibility_at_payment=_mapping(record.get("eligibility_at_payment")),
        hold_reasons=tuple(r for r in record.get("hold_reasons") or [] if isinstance(r, dict)),
        ruleset_version=_str(record.get("ruleset_version")),
        allowed_countries=tuple(allowed) if isinstance(allowed, list) else None,
        stock_lines=tuple(
            StockLine(str(line["sku"]), int(line["quantity"]))
            for line in record.get("stock_lines") or []
        ),
        stock_state=record.get("stock_state") or "none",
        reservation=reservation,
        reservation_expires_at=_str(record.get("reservation_expires_at")),
        stripe_session_id=_str(record.get("stripe_session_id")),
        checkout_url=_str(record.get("checkout_url")),
        shipping_rate_ids={
            str(k): str(v) for k, v in (_mapping(record.get("shipping_rate_ids")) or {}).items()
        },
        payment_intent_id=_str(record.get("payment_intent_id")),
        refund_id=_str(record.get("refund_id")),
        failure=_str(record.get("failure")),
        order_paid_published_at=_str(record.get("order_paid_published_at")),
        order_token_hash=_str(record.get("order_token_hash")),
        holder=_str(record.get("limits_holder")),
        cart_key=_str(record.get("cart_key")),
        shipments=tuple(
            Shipment(str(s["carrier"]), str(s["tracking_number"]), str(s["at"]))
            for s in record.get("shipments") or []
        ),
        events=tuple(
            OrderEvent(
                type=str(event.get("type")),
                detail=_mapping(event.get("detail")) or {},
                at=str(event.get("at") or ""),
            )
            for event in record.get("events") or []
            if isinstance(event, Mapping)
        ),
    )


def order_to_record(order: Order) -> dict[str, Any]:
    """The stored item (before ``to_item``; None values are not stored)."""
    record: dict[str, Any] = {
        "order_id": order.order_id,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "email": order.email,
        "email_lc": order.email.strip().lower() if order.email else None,
        "items": [line.as_json() for line in order.lines],
        "currency": order.currency,
        "amount_subtotal": order.amount_subtotal.as_json(),
        "amount_total": order.amount_total.as_json(),
        "shipping": order.shipping_method.as_json() if order.shipping_method else None,
        "destination": order.destination.as_json() if order.destination else None,
        "shipping_address": _address_record(order.shipping_address),
        "billing_country": order.billing_country,
        "billing_place": order.billing_place.as_json() if order.billing_place else None,
        "eligibility_at_checkout": order.eligibility_at_checkout,
        "eligibility_at_payment": order.eligibility_at_payment,
        "hold_reasons": [dict(r) for r in order.hold_reasons] or None,
        "ruleset_version": order.ruleset_version,
        "allowed_countries": list(order.allowed_countries)
        if order.allowed_countries is not None
        else None,
        "stock_lines": [{"sku": s.sku, "quantity": s.quantity} for s in order.stock_lines],
        "stock_state": order.stock_state,
        "reservation_state": reservation_key(order.order_id, order.reservation),
        "reservation_expires_at": order.reservation_expires_at,
        "stripe_session_id": order.stripe_session_id,
        "checkout_url": order.checkout_url,
        "shipping_rate_ids": dict(order.shipping_rate_ids) or None,
        "payment_intent_id": order.payment_intent_id,
        "refund_id": order.refund_id,
        "failure": order.failure,
        "order_paid_published_at": order.order_paid_published_at,
        "order_token_hash": order.order_token_hash,
        "limits_holder": order.holder,
        "cart_key": order.cart_key,
        "shipments": [
            {"carrier": s.carrier, "tracking_number": s.tracking_number, "at": s.at}
            for s in order.shipments
        ]
        or None,
        "events": [event.as_json() for event in order.events],
    }
    return {k: _stored(v) for k, v in record.items() if v is not None}


def reservation_shard(order_id: str) -> int:
    """The expiry index shard of an order: stable for its id (crc32, not ``hash()``,
    which differs per process)."""
    return zlib.crc32(order_id.encode()) % RESERVATION_SHARDS


def reservation_key(order_id: str, reservation: str | None) -> str | None:
    """What ``reservation_state`` stores: open reservations spread over the shards."""
    if reservation == PENDING:
        return f"{PENDING}#{reservation_shard(order_id)}"
    return reservation


def changed_attributes(before: Order, after: Order) -> tuple[dict[str, Any], list[str]]:
    """What to SET and what to REMOVE to turn the stored ``before`` into ``after``."""
    old, new = order_to_record(before), order_to_record(after)
    sets = {k: v for k, v in new.items() if k not in _NOT_CHANGED_DIRECTLY and old.get(k) != v}
    removes = [k for k in old if k not in new and k not in _NOT_CHANGED_DIRECTLY]
    return sets, removes


def _serialize(value: Any) -> dict[str, Any]:
    item = to_item({"v": value})
    return item["v"]  # type: ignore[no-any-return]


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


class _Reservation:
    """One reservation's transaction: the order, the holder's counter and the cart's open
    checkout when limits apply, the stock; and what a failed limit condition means.

    Indexes of the actions: 0 the order, then the cart (if any), the holder (if any),
    then one per stock line from ``first_stock``."""

    MAX_SETTLES = 4

    def __init__(
        self,
        repo: OrderRepository,
        order: Order,
        limits: HoldLimits | None,
        *,
        orders_table: str,
        products_table: str,
        limits_table: str | None,
    ) -> None:
        self.repo = repo
        self._orders = orders_table
        self._products = products_table
        self._limits = limits_table
        self.order = order
        self.limits = limits
        self.now = int(time.time())
        self.expires = (
            _epoch(order.reservation_expires_at) if order.reservation_expires_at else self.now
        )
        self.reset_hold = False
        self.stale_cart: str | None = None  # the order id a cart's record names, no longer open
        self._settles = 0
        self.cart_index = 1 if limits is not None and order.cart_key else None
        self.hold_index = (
            (2 if self.cart_index else 1) if limits is not None and order.holder else None
        )
        self.first_stock = 1 + (self.cart_index is not None) + (self.hold_index is not None)

    def actions(self) -> list[dict[str, Any]]:
        order = self.order
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._orders,
                    "Item": to_item(order_to_record(order)),
                    "ConditionExpression": "attribute_not_exists(order_id)",
                }
            }
        ]
        if self.cart_index is not None:
            actions.append(self._cart_action())
        if self.hold_index is not None:
            actions.append(self._hold_action())
        for line in order.stock_lines:
            actions.append(
                {
                    "Update": {
                        "TableName": self._products,
                        "Key": {"sku": {"S": line.sku}},
                        "UpdateExpression": "SET stock = stock - :q, reserved = if_not_exists(reserved, :zero) + :q",
                        "ConditionExpression": "attribute_exists(sku) AND active = :true AND stock >= :q",
                        "ExpressionAttributeValues": {
                            ":q": {"N": str(line.quantity)},
                            ":zero": {"N": "0"},
                            ":true": {"BOOL": True},
                        },
                    }
                }
            )
        return actions

    def _cart_action(self) -> dict[str, Any]:
        condition = "attribute_not_exists(pk) OR expires_at <= :now"
        values: dict[str, Any] = {":now": {"N": str(self.now)}}
        if self.stale_cart is not None:
            condition += " OR order_id = :stale"
            values[":stale"] = {"S": self.stale_cart}
        return {
            "Put": {
                "TableName": self._limits,
                "Item": {
                    "pk": {"S": str(self.order.cart_key)},
                    "order_id": {"S": self.order.order_id},
                    "expires_at": {"N": str(self.expires)},
                },
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }

    def _hold_action(self) -> dict[str, Any]:
        assert self.limits is not None and self.order.holder is not None
        lines = self.order.stock_lines
        key = hold_pk(self.order.holder)
        expires = {"N": str(counter_expiry(self.expires))}
        now = {"N": str(self.now)}
        if self.reset_hold:  # the counter had expired: it now counts this reservation alone
            return {
                "Put": {
                    "TableName": self._limits,
                    "Item": {
                        **key,
                        "open_reservations": {"N": "1"},
                        "expires_at": expires,
                        **{
                            f"{UNITS_PREFIX}{line.sku}": {"N": str(line.quantity)} for line in lines
                        },
                    },
                    "ConditionExpression": "attribute_not_exists(pk) "
                    "OR attribute_not_exists(expires_at) OR expires_at <= :now",
                    "ExpressionAttributeValues": {":now": now},
                }
            }
        names = {f"#u{i}": f"{UNITS_PREFIX}{line.sku}" for i, line in enumerate(lines)}
        values: dict[str, Any] = {
            ":now": now,
            ":expires": expires,
            ":one": {"N": "1"},
            ":max_open": {"N": str(self.limits.max_open_reservations)},
        }
        room = []
        for i, line in enumerate(lines):
            values[f":q{i}"] = {"N": str(line.quantity)}
            values[f":r{i}"] = {"N": str(self.limits.max_units_per_sku - line.quantity)}
            # A missing attribute makes the comparison false, so NOT (held > room) holds.
            room.append(f"NOT #u{i} > :r{i}")
        return {
            "Update": {
                "TableName": self._limits,
                "Key": key,
                "UpdateExpression": "SET expires_at = :expires ADD open_reservations :one, "
                + ", ".join(f"#u{i} :q{i}" for i in range(len(lines))),
                "ConditionExpression": "attribute_not_exists(pk) OR (expires_at > :now AND "
                "open_reservations < :max_open AND " + " AND ".join(room) + ")",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        assert self._limits is not None  # only limits (which need the table) read it
        response = self.repo._client.get_item(TableName=self._limits, Key=key, ConsistentRead=True)
        return response.get("Item")

    def settle(self, failed: set[int]) -> bool:
        """A limit's condition failed: raise what it means (the cart's checkout is open,
        the holder's share is used up), or return True to try again with the stale record
        overwritten. False: no limit failed, or it stays failed; the caller decides."""
        if self._settles >= self.MAX_SETTLES:
            return False
        if self.cart_index in failed:
            item = self._item({"pk": {"S": str(self.order.cart_key)}})
            open_id = item.get("order_id", {}).get("S", "") if item else ""
            current = self.repo.get(open_id) if open_id else None
            if (
                current is not None
                and current.status == "pending_payment"
                and current.reservation == PENDING
                and _epoch(current.reservation_expires_at or "1970-01-01T00:00:00Z") > self.now
            ):
                raise CartAlreadyOpen(current)
            self.stale_cart = open_id
            self._settles += 1
            return True
        if self.hold_index in failed:
            assert self.limits is not None and self.order.holder is not None
            item = self._item(hold_pk(self.order.holder))
            held = held_stock(item)
            self._settles += 1
            if item is None or held.expires_at <= self.now:
                self.reset_hold = True
                return True
            self.reset_hold = False
            lines = [(line.sku, line.quantity) for line in self.order.stock_lines]
            refusal = hold_refusal(held, lines, self.limits, now=self.now)
            if refusal is not None:
                raise refusal
            return True  # the counter changed since: try again
        return False


class OrderRepository:
    def __init__(
        self,
        client: DynamoDBClient,
        orders_table: str,
        products_table: str,
        limits_table: str | None = None,
    ) -> None:
        self._client = client
        self._orders = orders_table
        self._products = products_table
        self._limits = limits_table

    # -- reads -------------------------------------------------------------------------

    def get(self, order_id: str) -> Order | None:
        response = self._client.get_item(
            TableName=self._orders, Key={"order_id": {"S": order_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return order_from_record(from_item(item)) if item else None

    def find_by_email(
        self, email: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[Order], str | None]:
        """Newest first, paginated; ``next_token`` is opaque to callers."""
        return self._query_page(
            {
                "IndexName": "by_email",
                "KeyConditionExpression": "email_lc = :e",
                "ExpressionAttributeValues": {":e": {"S": email.strip().lower()}},
                "ScanIndexForward": False,
            },
            limit,
            next_token,
        )

    def find_by_status(
        self, status: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[Order], str | None]:
        """Orders in ``status``, oldest first (the ``by_status`` index), paginated as
        :meth:`find_by_email`; the index holds summaries, so each is an OrderSummary's worth."""
        return self._query_page(
            {
                "IndexName": "by_status",
                "KeyConditionExpression": "#status = :s",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":s": {"S": status}},
                "ScanIndexForward": True,
            },
            limit,
            next_token,
        )

    def _query_page(
        self, query: dict[str, Any], limit: int, next_token: str | None
    ) -> tuple[list[Order], str | None]:
        request: dict[str, Any] = {"TableName": self._orders, "Limit": limit, **query}
        if next_token:
            try:
                start = json.loads(base64.urlsafe_b64decode(next_token))
            except ValueError:
                start = None
            if not isinstance(start, dict):
                raise InvalidInput("next_token is not valid.", code="invalid_next_token")
            request["ExclusiveStartKey"] = start
        response = self._client.query(**request)
        found = [order_from_record(from_item(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return found, token

    def expired_reservations(self, now: str, *, limit: int = 100) -> list[str]:
        """Orders still holding stock whose checkout expired before ``now`` (ISO), up to
        ``limit``, oldest first within each shard, from every shard (and the unsharded
        ``pending`` of items written before the shards)."""
        keys = [f"{PENDING}#{shard}" for shard in range(RESERVATION_SHARDS)] + [PENDING]
        found: list[str] = []
        for key in keys:
            if len(found) >= limit:
                break
            response = self._client.query(
                TableName=self._orders,
                IndexName="by_reservation_expiry",
                KeyConditionExpression="reservation_state = :p AND reservation_expires_at < :now",
                ExpressionAttributeValues={":p": {"S": key}, ":now": {"S": now}},
                Limit=limit - len(found),
            )
            found.extend(item["order_id"]["S"] for item in response.get("Items", []))
        return found

    # -- writes ------------------------------------------------------------------------

    def create_with_reservation(self, order: Order, *, limits: HoldLimits | None = None) -> Order:
        """Put a new pending order and reserve its ``stock_lines``, all or nothing.

        With ``limits`` and a ``holder`` on the order, the same transaction counts the
        stock against the holder's share (``bonestore.domain.limits``) and, with a
        ``cart_key``, records this cart's open checkout. Returns the order as stored.
        Raises OutOfStock naming the SKUs that could not be reserved, RateLimited when the
        holder's share is used up, CartAlreadyOpen with the open checkout of the same cart.
        """
        lines = order.stock_lines
        if len(lines) > MAX_STOCKED_SKUS:
            raise InvalidInput(
                f"A cart may hold at most {MAX_STOCKED_SKUS} different physical products.",
                code="invalid_items",
            )
        counted = bool(lines and limits is not None and order.holder and self._limits)
        stored = replace(
            order,
            stock_state="reserved" if lines else "none",
            reservation=PENDING if lines else None,
            holder=order.holder if counted else None,
            cart_key=order.cart_key if counted else None,
        )
        reservation = _Reservation(
            self,
            stored,
            limits if counted else None,
            orders_table=self._orders,
            products_table=self._products,
            limits_table=self._limits,
        )
        if limits is not None and counted:  # a cart alone over the share: no counter needed
            refusal = hold_refusal(
                HeldStock(),
                [(line.sku, line.quantity) for line in lines],
                limits,
                now=reservation.now,
            )
            if refusal is not None:
                raise refusal
        client = self._client
        busy = "The store is busy; nothing was reserved. Please retry."
        attempt = 0
        while attempt < RESERVE_ATTEMPTS:
            actions = reservation.actions()
            try:
                client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
                return stored
            except client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                failed = {
                    index
                    for index, reason in enumerate(reasons)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if 0 in failed:  # the order id exists: never expected, and nothing was written
                    raise StoreBusy(busy) from exc
                if reservation.settle(failed):  # a stale counter or checkout: write it afresh
                    continue
                short = [
                    lines[i - reservation.first_stock].sku
                    for i in sorted(failed)
                    if i >= reservation.first_stock
                ]
                if short:  # the stock check itself said no: really out of stock
                    raise OutOfStock(
                        f"Not enough stock for {', '.join(short)}.",
                        details=[{"sku": sku} for sku in short],
                    ) from None
                codes = {reason.get("Code") for reason in reasons} - {"None", None}
                if not codes or not codes <= _RETRYABLE_CANCELLATIONS | {"ConditionalCheckFailed"}:
                    raise StoreBusy(busy) from exc  # nothing written; never a 500
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in THROTTLING_CODES:
                    raise StoreBusy(busy) from exc  # botocore has retried it already
                raise
            attempt += 1
            if attempt < RESERVE_ATTEMPTS:
                pause = min(_RETRY_CAP_S, _RETRY_BASE_S * 2 ** (attempt - 1))
                time.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not a secret
        raise StoreBusy(
            "Many customers are buying this right now; nothing was reserved. "
            "Please try again in a moment.",
            details=[{"sku": line.sku} for line in lines],
        )

    def transition(
        self, current: Order, target: str, *, event: OrderEvent, updated: Order | None = None
    ) -> Order | None:
        """Move the order to ``target`` with the stock effect, atomically, writing the
        attributes ``updated`` (``replace(current, ...)``) changes on the way.

        Returns the order as now stored, or None when the order is no longer in a status
        ``target`` can be entered from (a duplicate or out-of-order event): then the
        event is recorded on the timeline and nothing else changes.
        """
        sets, _ = changed_attributes(current, updated) if updated is not None else ({}, [])
        return self._transition(current, target, event, sets)

    def _transition(
        self, order: Order, target: str, event: OrderEvent, sets: dict[str, Any]
    ) -> Order | None:
        if not can_enter(order.status, target):
            self.record_event(order.order_id, event.with_detail(ignored=True))
            return None
        check_transition(order.status, target)
        new_stock_state, effect = stock_after(order.stock_state, target)
        changes = {k: v for k, v in sets.items() if k not in _RESERVATION and k != "updated_at"}
        changes.update(status=target, updated_at=now_iso(), stock_state=new_stock_state)
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {
            ":expected": {"S": order.status},
            ":ev": _serialize([event.as_json()]),
            ":empty": {"L": []},
        }
        assignments = ["events = list_append(if_not_exists(events, :empty), :ev)"]
        for index, (key, value) in enumerate(changes.items()):
            names[f"#f{index}"] = key
            values[f":f{index}"] = _serialize(value)
            assignments.append(f"#f{index} = :f{index}")
        product_updates: list[dict[str, Any]] = []
        if effect is not None:
            # A sale is counted in ``sold`` (stock + reserved + sold == received).
            expression = (
                "SET stock = stock + :q, reserved = reserved - :q"
                if effect == "release"
                else "SET reserved = reserved - :q, sold = if_not_exists(sold, :zero) + :q"
            )
            for line in order.stock_lines:
                line_values = {":q": {"N": str(line.quantity)}}
                if effect == "commit":
                    line_values[":zero"] = {"N": "0"}
                product_updates.append(
                    {
                        "Update": {
                            "TableName": self._products,
                            "Key": {"sku": {"S": line.sku}},
                            "UpdateExpression": expression,
                            "ExpressionAttributeValues": line_values,
                        }
                    }
                )
        # The customer's share counts while the order awaits payment: any move out of it
        # (paid, held for support, failed, expired) gives it back, once (the status condition).
        if (
            order.status == "pending_payment"
            and order.holder
            and order.stock_lines
            and self._limits
        ):
            product_updates.append(self._release_hold(order))
        update = {
            "Update": {
                "TableName": self._orders,
                "Key": {"order_id": {"S": order.order_id}},
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
            latest = self.get(order.order_id)
            if latest is not None and latest.status != order.status:
                return self._transition(latest, target, event, sets)
            raise
        return self.get(order.order_id)

    def _release_hold(self, order: Order) -> dict[str, Any]:
        """The holder's counter gives back what the order counted (in the move's own
        transaction). Unconditional, so a release can never fail on it: a counter TTL
        already deleted comes back below zero and without an expiry, which the next
        checkout reads as expired and writes afresh."""
        lines = order.stock_lines
        values: dict[str, Any] = {":minus_one": {"N": "-1"}}
        values.update({f":q{i}": {"N": str(-line.quantity)} for i, line in enumerate(lines)})
        return {
            "Update": {
                "TableName": self._limits,
                "Key": hold_pk(str(order.holder)),
                "UpdateExpression": "ADD open_reservations :minus_one, "
                + ", ".join(f"#u{i} :q{i}" for i in range(len(lines))),
                "ExpressionAttributeNames": {
                    f"#u{i}": f"{UNITS_PREFIX}{line.sku}" for i, line in enumerate(lines)
                },
                "ExpressionAttributeValues": values,
            }
        }

    def record_event(self, order_id: str, event: OrderEvent) -> None:
        self._client.update_item(
            TableName=self._orders,
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET events = list_append(if_not_exists(events, :empty), :ev)",
            ConditionExpression="attribute_exists(order_id)",
            ExpressionAttributeValues={":ev": _serialize([event.as_json()]), ":empty": {"L": []}},
        )

    def claim_email(self, order_id: str, kind: str, *, now: int, lease_seconds: int) -> bool:
        # One attribute per kind (``email_claim_order_paid``): a conditional write is the
        # claim, so two callers at once (two deliveries, two staff clicks) send one email.
        try:
            self._client.update_item(
                TableName=self._orders,
                Key={"order_id": {"S": order_id}},
                UpdateExpression="SET #claim = :now",
                ConditionExpression="attribute_exists(order_id) AND "
                "(attribute_not_exists(#claim) OR #claim < :stale)",
                ExpressionAttributeNames={"#claim": f"{EMAIL_CLAIM_PREFIX}{kind}"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":stale": {"N": str(now - lease_seconds)},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_email(self, order_id: str, kind: str) -> None:
        try:
            self._client.update_item(
                TableName=self._orders,
                Key={"order_id": {"S": order_id}},
                UpdateExpression="REMOVE #claim",
                ConditionExpression="attribute_exists(order_id)",  # never a stray item
                ExpressionAttributeNames={"#claim": f"{EMAIL_CLAIM_PREFIX}{kind}"},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return

    def save(self, current: Order, updated: Order, *, event: OrderEvent | None = None) -> None:
        """Write what ``updated`` changes (not the status: that is ``transition``'s),
        provided the order is still in ``current.status``; else OrderMoved."""
        sets, removes = changed_attributes(current, updated)
        names = {"#status": "status"}
        values: dict[str, Any] = {":expected": {"S": current.status}}
        assignments = []
        for index, (key, value) in enumerate(sets.items()):
            names[f"#f{index}"] = key
            values[f":f{index}"] = _serialize(value)
            assignments.append(f"#f{index} = :f{index}")
        if event is not None:
            assignments.append("events = list_append(if_not_exists(events, :empty), :ev)")
            values[":ev"] = _serialize([event.as_json()])
            values[":empty"] = {"L": []}
        if not assignments and not removes:
            return
        expression = "SET " + ", ".join(assignments) if assignments else ""
        if removes:
            for index, key in enumerate(removes):
                names[f"#r{index}"] = key
            expression += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removes)))
        client = self._client
        try:
            client.update_item(
                TableName=self._orders,
                Key={"order_id": {"S": current.order_id}},
                UpdateExpression=expression.strip(),
                ConditionExpression="#status = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except client.exceptions.ConditionalCheckFailedException:
            raise OrderMoved(f"Order {current.order_id} is no longer {current.status}.") from None
