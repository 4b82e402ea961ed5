"""A contended product: cancelled reservations retried, then a retryable 503, and the
expiry index spread over shards (items written before the shards still read and swept)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bonestore.adapters import orders as orders_adapter
from bonestore.adapters.orders import (
    RESERVATION_SHARDS,
    RESERVE_ATTEMPTS,
    OrderRepository,
    StoreBusy,
    order_from_record,
    order_to_record,
    reservation_shard,
)
from bonestore.domain.money import Money
from bonestore.domain.order import Order, OrderEvent, OrderLine, OutOfStock, StockLine

pytestmark = pytest.mark.unit


class Cancelled(Exception):
    def __init__(self, codes: list[str]) -> None:
        super().__init__("TransactionCanceledException")
        self.response = {"CancellationReasons": [{"Code": code} for code in codes]}


class FakeClient:
    """Answers each TransactWriteItems with the next outcome: None = success, else the
    cancellation reasons (order first, then each product)."""

    exceptions = SimpleNamespace(TransactionCanceledException=Cancelled)

    def __init__(self, *outcomes: list[str] | None) -> None:
        self.outcomes = list(outcomes)
        self.transactions = 0
        self.queries: list[str] = []

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        self.transactions += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise Cancelled(outcome)
        return {}

    def query(self, **request: Any) -> dict[str, Any]:
        key = request["ExpressionAttributeValues"][":p"]["S"]
        self.queries.append(key)
        return {"Items": [{"order_id": {"S": f"ord_{key}"}}]}


def order(order_id: str = "ord_hot1") -> Order:
    price = Money(amount=1250, currency="USD")
    return Order(
        order_id=order_id,
        status="pending_payment",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
        currency="USD",
        lines=(OrderLine("HOT-1", 1, price, {"sku": "HOT-1", "kind": "physical"}),),
        amount_subtotal=price,
        amount_total=price,
        stock_lines=(StockLine("HOT-1", 1),),
        reservation_expires_at="2026-01-01T00:30:00.000Z",
        events=(OrderEvent("checkout_created", {}, at="2026-01-01T00:00:00.000Z"),),
    )


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(orders_adapter.time, "sleep", slept.append)
    return slept


def repository(client: FakeClient) -> OrderRepository:
    return OrderRepository(client, "orders", "products")  # type: ignore[arg-type]


CONFLICT = ["None", "TransactionConflict"]


def test_a_conflict_is_retried_with_jitter_and_then_reserves(pauses: list[float]) -> None:
    client = FakeClient(CONFLICT, CONFLICT, None)
    stored = repository(client).create_with_reservation(order())
    assert client.transactions == 3
    assert stored.reservation == "pending" and stored.stock_state == "reserved"
    assert len(pauses) == 2 and all(0 <= p <= 0.25 for p in pauses)


def test_a_product_that_stays_contended_answers_a_retryable_503(pauses: list[float]) -> None:
    client = FakeClient(*[CONFLICT] * 10)
    with pytest.raises(StoreBusy) as raised:
        repository(client).create_with_reservation(order())
    assert client.transactions == RESERVE_ATTEMPTS  # bounded
    assert len(pauses) == RESERVE_ATTEMPTS - 1
    assert (raised.value.status, raised.value.code, raised.value.retry_after) == (
        503,
        "service_busy",
        1,
    )


def test_a_failed_stock_condition_is_out_of_stock_at_once(pauses: list[float]) -> None:
    client = FakeClient(["None", "ConditionalCheckFailed"])
    with pytest.raises(OutOfStock):
        repository(client).create_with_reservation(order())
    assert client.transactions == 1 and pauses == []


def test_any_other_cancellation_is_a_503_at_once(pauses: list[float]) -> None:
    client = FakeClient(["None", "ValidationError"])
    with pytest.raises(StoreBusy):
        repository(client).create_with_reservation(order())
    assert client.transactions == 1 and pauses == []


def test_open_reservations_are_stored_on_a_shard_and_read_back_as_pending() -> None:
    stored = order_to_record(orders_adapter.replace(order(), reservation="pending"))
    shard = reservation_shard("ord_hot1")
    assert stored["reservation_state"] == f"pending#{shard}"
    assert order_from_record(stored).reservation == "pending"
    legacy = {**stored, "reservation_state": "pending"}
    assert order_from_record(legacy).reservation == "pending"
    awaiting = order_to_record(orders_adapter.replace(order(), reservation="awaiting_payment"))
    assert awaiting["reservation_state"] == "awaiting_payment"


def test_orders_spread_over_every_shard() -> None:
    shards = {reservation_shard(f"ord_{n:05d}") for n in range(500)}
    assert shards == set(range(RESERVATION_SHARDS))


def test_the_sweeper_reads_every_shard_and_the_unsharded_items() -> None:
    client = FakeClient()
    found = repository(client).expired_reservations("2026-01-02T00:00:00.000Z", limit=100)
    expected = [f"pending#{n}" for n in range(RESERVATION_SHARDS)] + ["pending"]
    assert client.queries == expected
    assert found == [f"ord_{key}" for key in expected]
    client = FakeClient()
    assert len(repository(client).expired_reservations("2026", limit=3)) == 3
    assert client.queries == ["pending#0", "pending#1", "pending#2"]
