"""30 customers at once for the last 5 units: exactly 5 checkouts, never negative stock.

The stack is the one `bonestore serve` runs: its embedded DynamoDB serializes
requests as DynamoDB does (see bonestore_infra.local_aws); our code gets no help.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from bonestore_infra.bench_checkout import Shop
from bonestore_infra.local_stack import LocalStack

pytestmark = pytest.mark.integration

BUYERS = 30
UNITS = 5


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    # One stack per test process (tests/conftest.py): stacks point the process's
    # environment at themselves, so a second one alongside would confuse the first.
    return Shop(local_stack)


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
