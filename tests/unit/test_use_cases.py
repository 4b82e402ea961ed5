"""The use cases over the shared in-memory fakes (one per port): checkout with its
compensation and Idempotency-Key, and the reservation sweeper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bonestore.domain.catalog import seed_catalog
from bonestore.domain.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    RequestInProgress,
    UpstreamUnavailable,
)
from bonestore.domain.limits import HoldLimits, RateLimits
from bonestore.domain.order_token import derive_order_token, token_matches
from bonestore.domain.payment import CheckoutSession, ShippingDetails
from bonestore.domain.rules import default_engine
from bonestore.service.checkout import CheckoutRequest, CheckoutService
from bonestore.service.payments import PaymentService
from bonestore.service.reservations import ReservationSweeper
from tests.fakes import (
    MemoryGateway,
    MemoryOrders,
    MemoryProducts,
    MemoryPublisher,
    MemoryRateLimiter,
    RecordingMetrics,
)

pytestmark = pytest.mark.unit

CART = {
    "items": [{"sku": "TRUEOSTEO-120", "quantity": 2}, {"sku": "ORP-EBOOK", "quantity": 1}],
    "shipping_address": {
        "name": "Jane Doe",
        "line1": "1 Main St",
        "city": "Springfield",
        "subdivision": "IL",
        "postal_code": "62701",
        "country": "US",
    },
    "email": "jane@example.com",
    "success_url": "https://shop.example.com/ok",
    "cancel_url": "https://shop.example.com/cart",
}


class Once:
    """A OncePerKey that remembers answers per key, as Powertools' would."""

    def __init__(self, error: Exception | None = None) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.error = error

    def __call__(
        self, key: str, payload: dict[str, Any], create: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        if key not in self.answers:
            self.answers[key] = create()
        return self.answers[key]


def checkout(
    gateway: MemoryGateway, once: Once | None = None, metrics: RecordingMetrics | None = None
) -> tuple[CheckoutService, MemoryOrders]:
    products = MemoryProducts({**p.model_dump(mode="json"), "active": True} for p in seed_catalog())
    orders = MemoryOrders(stock={"TRUEOSTEO-120": [10, 0]})
    service = CheckoutService(
        products,
        orders,
        gateway=lambda: gateway,
        engine=default_engine,
        once_per_key=once or Once(),
        expiry_minutes=30,
        order_token_key=lambda: b"k" * 32,
        rate_limiter=MemoryRateLimiter(),
        hold_limits=HoldLimits(max_units_per_sku=20, max_open_reservations=5),
        rate_limits=RateLimits(per_email_per_minute=6, per_address_per_minute=30),
        metrics=metrics or RecordingMetrics(),
    )
    return service, orders


def test_checkout_reserves_stock_and_records_the_session() -> None:
    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    body = service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)
    order = orders.get(body["order_id"])
    assert order is not None and order.status == "pending_payment"
    assert order.stripe_session_id == body["stripe_session_id"] == "cs_fake_1"
    assert set(order.shipping_rate_ids.values()) == {"standard"}
    assert token_matches(body["order_token"], order.order_token_hash)
    assert body["order_token"] == derive_order_token(b"k" * 32, order.order_id)
    assert len(body["order_token"]) >= 22  # >= 128 bits, URL-safe
    assert orders.stock["TRUEOSTEO-120"] == [8, 2]
    assert [line.sku for line in gateway.sessions[0].lines] == ["TRUEOSTEO-120", "ORP-EBOOK"]
    assert [e.type for e in order.events] == ["checkout_created", "stripe_session_created"]


def test_checkout_releases_the_stock_when_stripe_fails() -> None:
    failure = UpstreamUnavailable("down", code="payment_provider_unavailable")
    service, orders = checkout(MemoryGateway(fail=failure))
    with pytest.raises(UpstreamUnavailable):
        service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)
    (order,) = orders.items.values()
    assert (order.status, order.failure) == ("payment_failed", "payment_provider_unavailable")
    assert orders.stock["TRUEOSTEO-120"] == [10, 0]


def test_an_idempotency_key_gives_the_first_answer() -> None:
    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    request = CheckoutRequest.model_validate(CART)
    first = service.create(request, idempotency_key="k-1")
    assert service.create(request, idempotency_key="k-1") == first
    # The remembered answer never holds the token: it is derived again on a replay.
    assert "order_token" not in next(iter(once_answers(service).values()))
    assert len(orders.items) == 1 and len(gateway.sessions) == 1
    with pytest.raises(InvalidInput) as bad:
        service.create(request, idempotency_key="bad\nkey")
    assert (bad.value.code, bad.value.status) == ("invalid_idempotency_key", 400)


@pytest.mark.parametrize(
    ("error", "code", "retry_after"),
    [
        (IdempotencyKeyReused("x"), "idempotency_key_reused", None),
        # The first request with the key is still being answered: retry in a moment.
        (RequestInProgress("x"), "request_in_progress", 1),
    ],
)
def test_idempotency_conflicts_are_409s(
    error: Exception, code: str, retry_after: int | None
) -> None:
    service, _ = checkout(MemoryGateway(), Once(error))
    with pytest.raises(Conflict) as raised:
        service.create(CheckoutRequest.model_validate(CART), idempotency_key="k")
    assert (raised.value.code, raised.value.status) == (code, 409)
    assert raised.value.retry_after == retry_after


def once_answers(service: CheckoutService) -> dict[str, dict[str, Any]]:
    once = service.once_per_key
    assert isinstance(once, Once)
    return once.answers


def sweeper(
    gateway: MemoryGateway, orders: MemoryOrders, metrics: RecordingMetrics | None = None
) -> ReservationSweeper:
    metrics = metrics or RecordingMetrics()
    payments = PaymentService(
        orders,
        engine=default_engine,
        publisher=MemoryPublisher,
        gateway=lambda: gateway,
        metrics=metrics,
    )
    return ReservationSweeper(
        orders, gateway=lambda: gateway, payments=lambda: payments, metrics=metrics
    )


def test_sweeper_releases_stale_reservations_and_settles_paid_ones() -> None:
    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    request = CheckoutRequest.model_validate(CART)
    unpaid = service.create(request, idempotency_key=None)["order_id"]
    # Another customer's (the same cart and email would reuse the open checkout).
    other = CheckoutRequest.model_validate({**CART, "email": "joe@example.com"})
    paid_id = service.create(other, idempotency_key=None)["order_id"]
    paid = orders.get(paid_id)
    assert paid is not None and paid.stripe_session_id
    gateway.completed[paid.stripe_session_id] = CheckoutSession(
        session_id=paid.stripe_session_id,
        order_id=paid_id,
        status="complete",
        payment_status="paid",
        shipping_name="Jane Doe",
        shipping_address={
            "line1": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
        },
        billing_address={"country": "US"},
        shipping_rate_id=next(iter(paid.shipping_rate_ids)),
        shipping_paid=0,
        amount_subtotal=paid.amount_subtotal.amount,
        payment_intent_id="pi_1",
    )
    gateway.shipping["pi_1"] = ShippingDetails(
        "Jane Doe", gateway.completed[paid.stripe_session_id].shipping_address or {}
    )
    metrics = RecordingMetrics()
    sweep = sweeper(gateway, orders, metrics)
    assert sweep.sweep(datetime.now(UTC))["checked"] == 0  # not stale yet
    counts = sweep.sweep(datetime.now(UTC) + timedelta(hours=1))
    assert counts == {"released": 1, "settled": 1, "checked": 2}
    assert sorted(metrics.names()) == ["OrdersPaid", "ReservationsReleased"]
    released, settled = orders.get(unpaid), orders.get(paid_id)
    assert released is not None and released.status == "expired"
    assert settled is not None and settled.status == "paid", settled.hold_reasons
    assert orders.stock["TRUEOSTEO-120"] == [8, 0]
    assert sweep.sweep(datetime.now(UTC) + timedelta(hours=1))["checked"] == 0


def test_sweeper_defers_when_time_runs_out() -> None:
    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    order_id = service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)[
        "order_id"
    ]
    order = orders.get(order_id)
    assert order is not None
    orders.items[order_id] = replace(order, stripe_session_id=None)
    counts = sweeper(gateway, orders).sweep(
        datetime.now(UTC) + timedelta(hours=1), time_left=lambda: False
    )
    assert counts == {"deferred": 1, "checked": 1}
