"""The reservation sweeper (docs/deploy.md, "Releasing reservations"): every expired
checkout's stock is released after a 5-minute grace past its expiry, a checkout Stripe
completed meanwhile is settled or left to its payment, and nothing else is touched. Each
test is named for the clause it pins."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bonestore.domain.payment import CheckoutSession
from bonestore.service.checkout import CheckoutRequest
from bonestore.service.reservations import ReservationSweeper
from tests.fakes import MemoryGateway, MemoryOrders
from tests.unit.test_use_cases import CART, checkout, sweeper

pytestmark = pytest.mark.unit


def one_order(gateway: MemoryGateway) -> tuple[MemoryOrders, str, datetime]:
    service, orders = checkout(gateway)
    order_id = service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)[
        "order_id"
    ]
    order = orders.get(order_id)
    assert order is not None and order.reservation_expires_at is not None
    expires = datetime.fromisoformat(order.reservation_expires_at.replace("Z", "+00:00"))
    return orders, order_id, expires


def test_a_reservation_is_released_only_after_five_minutes_of_grace_past_its_expiry() -> None:
    gateway = MemoryGateway()
    orders, order_id, expires = one_order(gateway)
    sweep = sweeper(gateway, orders)
    at_grace = expires + timedelta(minutes=5)
    assert sweep.sweep(at_grace)["checked"] == 0  # exactly at the end of the grace: not yet
    counts = sweep.sweep(at_grace + timedelta(seconds=1))
    assert counts == {"released": 1, "checked": 1}
    released = orders.get(order_id)
    assert released is not None and released.status == "expired"
    assert orders.stock["TRUEOSTEO-120"] == [10, 0]
    assert gateway.expired == [released.stripe_session_id]


def test_a_session_completed_but_not_yet_paid_keeps_its_order_waiting_for_the_payment() -> None:
    gateway = MemoryGateway()
    orders, order_id, expires = one_order(gateway)
    order = orders.get(order_id)
    assert order is not None and order.stripe_session_id
    gateway.completed[order.stripe_session_id] = CheckoutSession(
        session_id=order.stripe_session_id,
        order_id=order_id,
        status="complete",
        payment_status="unpaid",
    )
    counts = sweeper(gateway, orders).sweep(expires + timedelta(hours=1))
    assert counts == {"awaiting_payment": 1, "checked": 1}
    waiting = orders.get(order_id)
    assert waiting is not None and waiting.status == "pending_payment"
    assert waiting.reservation == "awaiting_payment"
    assert waiting.events[-1].type == "sweeper_found_completed_session"
    assert orders.stock["TRUEOSTEO-120"] == [8, 2]  # still held for the payment


def test_only_a_pending_payment_order_is_swept() -> None:
    gateway = MemoryGateway()
    orders, order_id, _ = one_order(gateway)
    order = orders.get(order_id)
    assert order is not None
    orders.items[order_id] = replace(order, status="paid")
    sweep = sweeper(gateway, orders)
    assert sweep.sweep_order(order_id) == "skipped"
    assert sweep.sweep_order("ord_unknown") == "skipped"
    assert gateway.expired == []


def test_one_order_that_fails_to_sweep_does_not_stop_the_others() -> None:
    class Failing(MemoryGateway):
        def expire_checkout_session(self, session_id: str) -> CheckoutSession:
            raise RuntimeError("stripe down")

    gateway = Failing()
    orders, order_id, expires = one_order(gateway)
    counts = sweeper(gateway, orders).sweep(expires + timedelta(hours=1))
    assert counts == {"failed": 1, "checked": 1}
    kept = orders.get(order_id)
    assert kept is not None and kept.status == "pending_payment"


def test_a_sweep_goes_through_every_batch_and_counts_each_order_once() -> None:
    gateway = MemoryGateway()
    orders, order_id, expires = one_order(gateway)
    template = orders.get(order_id)
    assert template is not None
    for n in range(230):  # more than two batches of 100
        copy_id = f"ord_copy_{n:03d}"
        orders.items[copy_id] = replace(template, order_id=copy_id, stripe_session_id=None)
    sweep = ReservationSweeper(
        orders, gateway=lambda: gateway, payments=lambda: (_ for _ in ()).throw(AssertionError)
    )
    counts = sweep.sweep(expires + timedelta(hours=1))
    assert counts["checked"] == 231
    assert sum(v for k, v in counts.items() if k != "checked") == 231


class EndlessExpiries:
    """An order store with more expired reservations than one run may take: every query
    answers ``limit`` ids never seen before (orders it then cannot find)."""

    def __init__(self) -> None:
        self.limits: list[int] = []

    def expired_reservations(self, now: str, *, limit: int = 100) -> list[str]:
        start = len(self.limits) * limit
        self.limits.append(limit)
        return [f"ord_{n}" for n in range(start, start + limit)]

    def get(self, order_id: str) -> None:
        return None


def endless_sweeper(store: EndlessExpiries) -> ReservationSweeper:
    return ReservationSweeper(
        store,  # type: ignore[arg-type]
        gateway=lambda: MemoryGateway(),
        payments=lambda: (_ for _ in ()).throw(AssertionError("no payment to settle")),
    )


def test_one_run_sweeps_at_most_20_batches_of_100_so_it_ends_within_its_lambda() -> None:
    store = EndlessExpiries()
    counts = endless_sweeper(store).sweep(datetime(2026, 3, 1))
    assert store.limits == [100] * 20
    assert counts == {"skipped": 2000, "checked": 2000}


def test_when_time_runs_out_every_order_fetched_is_deferred_not_dropped() -> None:
    store = EndlessExpiries()
    counts = endless_sweeper(store).sweep(datetime(2026, 3, 1), time_left=lambda: False)
    assert counts == {"deferred": 2000, "checked": 2000}


def test_a_sweep_stops_asking_once_nothing_is_left() -> None:
    class Empty(EndlessExpiries):
        def expired_reservations(self, now: str, *, limit: int = 100) -> list[str]:
            self.limits.append(limit)
            return []

    store = Empty()
    assert endless_sweeper(store).sweep(datetime(2026, 3, 1)) == {"checked": 0}
    assert store.limits == [100]


def test_statuses_read_from_storage_are_compared_by_value() -> None:
    """A status or a Stripe session status parsed from JSON is an equal string, not the
    same object as the literal: it must still be recognized."""
    gateway = MemoryGateway()
    orders, order_id, _ = one_order(gateway)
    order = orders.get(order_id)
    assert order is not None and order.stripe_session_id
    orders.items[order_id] = replace(order, status="".join(["pending_", "payment"]))
    gateway.completed[order.stripe_session_id] = CheckoutSession(
        session_id=order.stripe_session_id,
        order_id=order_id,
        status="".join(["com", "plete"]),
        payment_status="unpaid",
    )
    assert sweeper(gateway, orders).sweep_order(order_id) == "awaiting_payment"


@pytest.mark.parametrize("status", ["paid", "held", "expired", "refunded", "payment_failed"])
def test_no_order_past_pending_payment_is_swept(status: str) -> None:
    gateway = MemoryGateway()
    orders, order_id, _ = one_order(gateway)
    order = orders.get(order_id)
    assert order is not None
    orders.items[order_id] = replace(order, status=status)
    assert sweeper(gateway, orders).sweep_order(order_id) == "skipped"
    assert gateway.expired == []
