"""In-memory fakes, one per port of ``bonestore.service.ports``, shared by all tests.

``MemoryOrders`` moves orders with the domain's own state machine
(``bonestore.domain.orders``: ``can_enter``, ``stock_after``) and keeps a products'
stock table, so it behaves as the DynamoDB adapter does; ``tests/unit/test_order_store_contract.py``
runs the same assertions against both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from bonestore.domain.email import EmailMessage
from bonestore.domain.order import Order, OrderEvent, OrderMoved, OutOfStock
from bonestore.domain.orders import can_enter, check_transition, now_iso, stock_after
from bonestore.domain.payment import CheckoutSession, SessionRequest


class MemoryOrders:
    """``OrderStore`` in memory; ``stock`` maps SKU -> [available, reserved]."""

    def __init__(self, *orders: Order, stock: dict[str, list[int]] | None = None) -> None:
        self.items: dict[str, Order] = {o.order_id: o for o in orders}
        self.stock: dict[str, list[int]] = stock if stock is not None else {}

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

    def create_with_reservation(self, order: Order) -> Order:
        if order.order_id in self.items:
            raise OrderMoved(f"Order {order.order_id} exists.")
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
        stored = replace(
            order,
            stock_state="reserved" if order.stock_lines else "none",
            reservation="pending" if order.stock_lines else None,
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


class MemoryProducts:
    """``ProductStore``: product items by SKU (as the table stores them)."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.items = {item["sku"]: item for item in items}

    def get_many(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            sku: self.items[sku]
            for sku in skus
            if sku in self.items and self.items[sku].get("active", True)
        }


class MemoryGateway:
    """``PaymentGateway``: records sessions opened, sessions expired and refunds."""

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.fail = fail
        self.sessions: list[SessionRequest] = []
        self.refunds: list[str] = []
        self.expired: list[str] = []
        self.completed: dict[str, CheckoutSession] = {}

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

    def refund(
        self, payment_intent_id: str, *, idempotency_key: str, metadata: dict[str, str]
    ) -> str:
        self.refunds.append(idempotency_key)
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
    """The ``EmailSender`` port, keeping what it is given."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> str:
        self.sent.append(message)
        return f"recorded-{len(self.sent)}"
