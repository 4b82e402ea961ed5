"""In-memory fakes, one per port of ``bonestore.service.ports``, shared by all tests.

``MemoryOrders`` moves orders with the domain's own state machine
(``bonestore.domain.orders``: ``can_enter``, ``stock_after``) and keeps a products'
stock table, so it behaves as the DynamoDB adapter does; ``tests/unit/test_order_store_contract.py``
runs the same assertions against both.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bonestore.domain.catalog import Product
from bonestore.domain.email import EmailMessage
from bonestore.domain.order import Order, OrderEvent, OrderMoved, OutOfStock
from bonestore.domain.orders import can_enter, check_transition, now_iso, stock_after
from bonestore.domain.payment import CheckoutSession, SessionRequest, ShippingDetails

if TYPE_CHECKING:
    from bonestore.domain.limits import HoldLimits


class MemoryOrders:
    """``OrderStore`` in memory; ``stock`` maps SKU -> [available, reserved]."""

    def __init__(self, *orders: Order, stock: dict[str, list[int]] | None = None) -> None:
        self.items: dict[str, Order] = {o.order_id: o for o in orders}
        self.stock: dict[str, list[int]] = stock if stock is not None else {}
        # holder -> (open reservations, units per SKU): what the limits table counts.
        self.holds: dict[str, tuple[int, dict[str, int]]] = {}
        # cart key -> order id of its checkout.
        self.carts: dict[str, str] = {}
        # (order id, email kind) -> when it was claimed.
        self.email_claims: dict[tuple[str, str], int] = {}

    def get(self, order_id: str) -> Order | None:
        return self.items.get(order_id)

    def find_by_email(
        self, email: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[Order], str | None]:
        wanted = email.strip().lower()
        found = sorted(
            (o for o in self.items.values() if (o.email or "").lower() == wanted),
            key=lambda o: o.created_at,
            reverse=True,
        )
        start = int(next_token or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return page, str(start + limit) if more else None

    def find_by_status(
        self, status: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[Order], str | None]:
        found = sorted(
            (o for o in self.items.values() if o.status == status), key=lambda o: o.created_at
        )
        start = int(next_token or 0)
        more = start + limit < len(found)
        return found[start : start + limit], str(start + limit) if more else None

    def expired_reservations(self, now: str, *, limit: int = 100) -> list[str]:
        return [
            o.order_id
            for o in self.items.values()
            if o.reservation == "pending" and (o.reservation_expires_at or "") < now
        ][:limit]

    def create_with_reservation(self, order: Order, *, limits: HoldLimits | None = None) -> Order:
        from bonestore.domain.limits import CartAlreadyOpen, HeldStock, hold_refusal

        if order.order_id in self.items:
            raise OrderMoved(f"Order {order.order_id} exists.")
        counted = bool(order.stock_lines and limits is not None and order.holder)
        if counted and order.cart_key in self.carts:
            current = self.items.get(self.carts[order.cart_key])
            if current is not None and current.reservation == "pending":
                raise CartAlreadyOpen(current)
        if counted:
            assert limits is not None and order.holder is not None
            held, units = self.holds.get(order.holder, (0, {}))
            lines = [(line.sku, line.quantity) for line in order.stock_lines]
            refusal = hold_refusal(HeldStock(held, units, expires_at=2**40), lines, limits, now=0)
            if refusal is not None:
                raise refusal
        short = [
            line.sku
            for line in order.stock_lines
            if self.stock.get(line.sku, [0, 0])[0] < line.quantity
        ]
        if short:
            raise OutOfStock(
                f"Not enough stock for {', '.join(short)}.", details=[{"sku": s} for s in short]
            )
        for line in order.stock_lines:
            self.stock[line.sku][0] -= line.quantity
            self.stock[line.sku][1] += line.quantity
        if counted:
            assert order.holder is not None
            held, units = self.holds.get(order.holder, (0, {}))
            for line in order.stock_lines:
                units = {**units, line.sku: units.get(line.sku, 0) + line.quantity}
            self.holds[order.holder] = (held + 1, units)
            if order.cart_key:
                self.carts[order.cart_key] = order.order_id
        stored = replace(
            order,
            stock_state="reserved" if order.stock_lines else "none",
            reservation="pending" if order.stock_lines else None,
            holder=order.holder if counted else None,
            cart_key=order.cart_key if counted else None,
        )
        self.items[order.order_id] = stored
        return stored

    def transition(
        self, current: Order, target: str, *, event: OrderEvent, updated: Order | None = None
    ) -> Order | None:
        stored = self.items[current.order_id]
        if not can_enter(stored.status, target):
            self.record_event(stored.order_id, event.with_detail(ignored=True))
            return None
        check_transition(stored.status, target)
        stock_state, effect = stock_after(stored.stock_state, target)
        for line in stored.stock_lines if effect else ():
            counters = self.stock.setdefault(line.sku, [0, 0])
            if effect == "release":
                counters[0] += line.quantity
            counters[1] -= line.quantity
        if stored.status == "pending_payment" and stored.holder:
            held, units = self.holds[stored.holder]
            for line in stored.stock_lines:
                units = {**units, line.sku: units[line.sku] - line.quantity}
            self.holds[stored.holder] = (held - 1, units)
        base = _changed(current, updated, onto=stored) if updated is not None else stored
        moved = replace(
            base,
            status=target,  # type: ignore[arg-type]
            stock_state=stock_state,  # type: ignore[arg-type]
            reservation=None,
            reservation_expires_at=None,
            updated_at=now_iso(),
            events=(*stored.events, event),
        )
        self.items[current.order_id] = moved
        return moved

    def record_event(self, order_id: str, event: OrderEvent) -> None:
        stored = self.items[order_id]
        self.items[order_id] = replace(stored, events=(*stored.events, event))

    def claim_email(self, order_id: str, kind: str, *, now: int, lease_seconds: int) -> bool:
        if order_id not in self.items:
            return False
        claimed = self.email_claims.get((order_id, kind))
        if claimed is not None and claimed >= now - lease_seconds:
            return False
        self.email_claims[(order_id, kind)] = now
        return True

    def release_email(self, order_id: str, kind: str) -> None:
        self.email_claims.pop((order_id, kind), None)

    def save(self, current: Order, updated: Order, *, event: OrderEvent | None = None) -> None:
        stored = self.items[current.order_id]
        if stored.status != current.status:
            raise OrderMoved(f"Order {current.order_id} is no longer {current.status}.")
        saved = _changed(current, updated, onto=stored)
        if event is not None:
            saved = replace(saved, events=(*stored.events, event))
        self.items[current.order_id] = saved


_MANAGED = frozenset({"order_id", "status", "events", "stock_state", "created_at"})


def _changed(before: Order, after: Order, *, onto: Order) -> Order:
    """``onto`` with the fields ``after`` changed from ``before`` (as the adapter writes
    only the attributes that differ)."""
    changes = {
        name: getattr(after, name)
        for name in Order.__dataclass_fields__
        if name not in _MANAGED and getattr(after, name) != getattr(before, name)
    }
    return replace(onto, **changes)


class MemoryRateLimiter:
    """``CheckoutRateLimiter`` in memory: hits per (key, minute window)."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, int], int] = {}

    def hit(self, keys: list[tuple[str, int]], now: float) -> None:
        from bonestore.domain.limits import rate_window, too_many_checkouts

        window, retry_after = rate_window(now)
        for key, limit in keys:
            if self.hits.get((key, window), 0) >= limit:
                raise too_many_checkouts(retry_after)
            self.hits[(key, window)] = self.hits.get((key, window), 0) + 1


class MemoryProducts:
    """``ProductStore`` and the rest of ``ProductRepository``: product items by SKU, as the
    table stores them (counters, timestamps, DynamoDB's numbers), each read a copy.
    ``tests/integration/test_product_store_contract.py`` runs the same assertions against
    this fake and the DynamoDB adapter."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.items = {item["sku"]: deepcopy(item) for item in items}

    def get_many(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            sku: deepcopy(self.items[sku])
            for sku in skus
            if sku in self.items and self.items[sku].get("active", True)
        }

    def get(self, sku: str, *, include_inactive: bool = False) -> dict[str, Any] | None:
        item = self.items.get(sku)
        if item is None or not (include_inactive or item.get("active", True)):
            return None
        return deepcopy(item)

    def list(self, *, include_inactive: bool = False) -> list[dict[str, Any]]:
        from bonestore.domain.product_view import listing_order

        found = [i for i in self.items.values() if include_inactive or i.get("active", True)]
        return deepcopy(sorted(found, key=listing_order))

    def put(self, product: Product) -> dict[str, Any]:
        """As the adapter: ``stock`` is on hand (for sale plus reserved); refused as the
        adapter's condition refuses; the old item back (empty for a new product)."""
        from bonestore.adapters.dynamo import plain
        from bonestore.adapters.products import ReservedKindChange, StockBelowReserved

        before = self.items.get(product.sku, {})
        reserved, sold = int(before.get("reserved", 0)), int(before.get("sold", 0))
        details = [{"sku": product.sku, "reserved": reserved}]
        if product.stock is None and reserved:
            raise ReservedKindChange(f"{product.sku} has reserved units.", details=details)
        if product.stock is not None and product.stock < reserved:
            raise StockBelowReserved(f"{product.sku}: stock below reserved.", details=details)
        now = now_iso()
        data = plain(product.model_dump(mode="python", exclude_none=True, exclude={"stock"}))
        item = {**before, **data, "updated_at": now, "created_at": before.get("created_at", now)}
        if product.stock is not None:
            item.update(stock=product.stock - reserved, reserved=reserved, sold=sold,
                        received=product.stock + sold)  # fmt: skip
        else:
            item.pop("stock", None)
        self.items[product.sku] = item
        return deepcopy(before)

    def deactivate(self, sku: str) -> bool:
        if sku not in self.items:
            return False
        self.items[sku] = {**self.items[sku], "active": False, "updated_at": now_iso()}
        return True


class MemoryGateway:
    """``PaymentGateway``: records sessions opened, sessions expired and refunds."""

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.fail = fail
        self.sessions: list[SessionRequest] = []
        self.refunds: list[str] = []
        self.expired: list[str] = []
        self.completed: dict[str, CheckoutSession] = {}
        # payment intent id -> the shipping the provider reports for it
        self.shipping: dict[str, ShippingDetails | None] = {}

    def create_checkout_session(
        self, request: SessionRequest, *, idempotency_key: str
    ) -> CheckoutSession:
        if self.fail is not None:
            raise self.fail
        self.sessions.append(request)
        number = len(self.sessions)
        return CheckoutSession(
            session_id=f"cs_fake_{number}",
            order_id=request.order_id,
            url=f"https://pay.example/cs_fake_{number}",
            status="open",
            shipping_option_rate_ids=tuple(
                f"shr_{number}_{option.method_id}" for option in request.shipping_options
            ),
        )

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        self.expired.append(session_id)
        return self.completed.get(session_id) or CheckoutSession(
            session_id=session_id, status="expired"
        )

    def payment_shipping(self, payment_intent_id: str) -> ShippingDetails | None:
        return self.shipping.get(payment_intent_id)

    def refund(self, payment_intent_id: str, *, order_id: str) -> str:
        self.refunds.append(f"refund-{order_id}")
        return f"re_{len(self.refunds)}"


class MemoryPublisher:
    """``OrderEventPublisher``: the ids of the orders announced as paid or ready to ship."""

    def __init__(self) -> None:
        self.paid: list[str] = []
        self.ready_to_ship: list[str] = []

    def order_paid(self, order: Order) -> None:
        self.paid.append(order.order_id)

    def order_ready_to_ship(self, order: Order) -> None:
        self.ready_to_ship.append(order.order_id)


class RecordingEmailSender:
    """``EmailSender``: keeps what it is given; ``fail`` makes every send raise it."""

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.fail = fail

    def send(self, message: EmailMessage) -> str:
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)
        return f"recorded-{len(self.sent)}"


class MemoryIdempotencyStore:
    """Powertools' idempotency persistence (the idempotency table's role) in a dict.

    Built as a subclass on first use so importing the fakes does not import Powertools.
    ``records`` maps each idempotency key to its ``DataRecord``; pass one dict to every
    layer made (the production code makes a layer per idempotent function, all on one table).
    """

    def __new__(cls, records: dict[str, Any] | None = None) -> Any:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyItemAlreadyExistsError,
            IdempotencyItemNotFoundError,
        )
        from aws_lambda_powertools.utilities.idempotency.persistence.base import (
            BasePersistenceLayer,
        )
        from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

        class _Store(BasePersistenceLayer):
            def __init__(self) -> None:
                super().__init__()  # type: ignore[no-untyped-call]
                self.records: dict[str, DataRecord] = {} if records is None else records

            def _get_record(self, idempotency_key: str) -> DataRecord:
                if idempotency_key not in self.records:
                    raise IdempotencyItemNotFoundError
                return self.records[idempotency_key]

            def _put_record(self, data_record: DataRecord) -> None:
                held = self.records.get(data_record.idempotency_key)
                if held is not None and not held.is_expired:
                    # Powertools then reads the record back (checking the payload hash).
                    raise IdempotencyItemAlreadyExistsError
                self.records[data_record.idempotency_key] = data_record

            def _update_record(self, data_record: DataRecord) -> None:
                self.records[data_record.idempotency_key] = data_record

            def _delete_record(self, data_record: DataRecord) -> None:
                self.records.pop(data_record.idempotency_key, None)

        return _Store()


class RecordingMetrics:
    """``BusinessMetrics`` that records each count, refusing a name the code does not
    declare (``bonestore.service.metrics``) or a dimension the name does not take."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, str | None]] = []
        self.flushes = 0

    def count(self, name: str, *, by: str | None = None, value: int = 1) -> None:
        from bonestore.service.metrics import BREAKDOWNS, COUNTS

        assert (name in COUNTS and by is None) or (name in BREAKDOWNS and by), (name, by)
        self.counts += [(name, by)] * value

    def flush(self) -> None:
        self.flushes += 1

    def names(self) -> list[str]:
        return [name for name, _ in self.counts]
