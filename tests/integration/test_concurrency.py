"""30 customers at once for the last 5 units: exactly 5 checkouts, never negative stock.

DynamoDB runs each request (a transaction included) atomically. moto does not: two
threads can pass the same condition check, and a transaction deep-copies a table
another thread is writing. The embedded moto server runs in this process, so the
fixture serializes its DynamoDB backend calls, restoring the guarantee AWS gives;
our code gets no lock and no help.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bonestore_infra.bench_checkout import Shop, running_stack

pytestmark = pytest.mark.integration

BUYERS = 30
UNITS = 5


BACKEND_CALLS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
)


@pytest.fixture(scope="module")
def atomic_moto() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in BACKEND_CALLS}

    def serialized(method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return call

    for name, method in originals.items():
        setattr(DynamoDBBackend, name, serialized(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)


@pytest.fixture(scope="module")
def shop(atomic_moto: None) -> Iterator[Shop]:
    with running_stack() as stack:
        # The local servers keep socketserver's listen backlog of 5; API Gateway and Stripe
        # accept a burst of 30. Linux lets a listening socket widen its backlog in place.
        stack.api._server.socket.listen(128)
        stack.stripe._server.socket.listen(128)
        yield Shop(stack)


def test_last_units_are_sold_once(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", UNITS)

    def buy(n: int) -> tuple[int, str | None, str | None]:
        status, body = shop.checkout(
            [{"sku": sku, "quantity": 1}, {"sku": "ORP-EBOOK", "quantity": 1}],
            {"country": "US"},
            email=f"buyer{n}@example.com",
        )
        code = body["error"]["code"] if status >= 400 else None
        return status, code, body.get("order_id") if status == 201 else None

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        results = list(pool.map(buy, range(BUYERS)))

    statuses = Counter(status for status, _, _ in results)
    assert statuses == {201: UNITS, 409: BUYERS - UNITS}, results
    assert {code for status, code, _ in results if status == 409} == {"out_of_stock"}
    product = shop.product(sku)
    assert (product["stock"], product["reserved"]) == (0, UNITS)
    orders = [shop.order(order_id) for _, _, order_id in results if order_id]
    assert all(o["status"] == "pending_payment" and o["stripe_session_id"] for o in orders)

    # Abandon them all: every unit comes back, once.
    for order in orders:
        shop.expire(order["stripe_session_id"])
    product = shop.product(sku)
    assert (product["stock"], product["reserved"]) == (UNITS, 0)
