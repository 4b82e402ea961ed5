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
