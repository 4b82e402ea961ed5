"""30 customers at once for the last 5 units: exactly 5 checkouts, never negative stock.

The stack is the one `bonestore serve` runs: its embedded DynamoDB serializes
requests as DynamoDB does (see bonestore_infra.local_aws); our code gets no help.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

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


FLASH_BUYERS = 200
FLASH_UNITS = 50
IN_FLIGHT = 8  # bounded: loopback only, a fixed count, and a busy machine


def _conflicting(every_call_of: set[str]) -> Any:
    """A botocore ``before-call`` hook that cancels reservation transactions as DynamoDB
    does when two hit one item at once (``TransactionConflict``): always for the buyers
    named, every other call for the rest. The embedded DynamoDB serializes transactions
    and never conflicts, so without this the retry would never run here."""
    calls = {"n": 0}
    lock = threading.Lock()

    def hook(params: dict[str, Any], **_: Any) -> Any:
        # ``params`` is the serialized request here: the API's arguments are its JSON body.
        actions = json.loads(params["body"]).get("TransactItems") or []
        put = actions[0].get("Put") if actions else None
        if not put or "stock_lines" not in put["Item"]:
            return None  # not a reservation: moves after it are left alone
        email = put["Item"].get("email", {}).get("S", "")
        with lock:
            calls["n"] += 1
            conflict = email in every_call_of or calls["n"] % 2 == 0
        if not conflict:
            return None
        reasons = [{"Code": "None"}] + [
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            for _ in actions[1:]
        ]
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return SimpleNamespace(status_code=400, headers={}), error

    return hook


def test_a_flash_sale_sells_exactly_the_stock(shop: Shop) -> None:
    """200 checkouts race for 50 units while DynamoDB cancels half the reservation
    transactions as conflicting: exactly 50 orders, the rest 409 out_of_stock or a
    retryable 503 with Retry-After, never a 500, and every unit accounted for."""
    from bonestore.adapters.dynamo import dynamodb_client

    sku = shop.clone("TRUEOSTEO-120", FLASH_UNITS)
    unlucky = {f"unlucky{n}@example.com" for n in range(10)}

    def buy(n: int) -> tuple[int, str | None, str | None, str | None]:
        email = f"unlucky{n}@example.com" if n < 10 else f"flash{n}@example.com"
        status, payload, headers = shop.checkout_exchange(
            [{"sku": sku, "quantity": 1}], {"country": "US"}, email=email, timeout=180
        )
        code = payload["error"]["code"] if status >= 400 else None
        order_id = payload.get("order_id") if status == 201 else None
        return status, code, order_id, headers.get("Retry-After")

    hook = _conflicting(unlucky)
    client = dynamodb_client()
    client.meta.events.register("before-call.dynamodb.TransactWriteItems", hook)
    try:
        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
            results = list(pool.map(buy, range(FLASH_BUYERS)))
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", hook)

    statuses = Counter(status for status, *_ in results)
    assert statuses[201] == FLASH_UNITS, statuses
    assert set(statuses) <= {201, 409, 503}, results
    assert {code for status, code, *_ in results if status == 409} <= {"out_of_stock"}
    contended = [r for r in results if r[0] == 503]
    assert len(contended) >= len(unlucky)  # those never got through
    assert all(code == "service_busy" and retry == "1" for _, code, _, retry in contended)
    product = shop.product(sku)
    assert (product["stock"], product["reserved"]) == (0, FLASH_UNITS)
    orders = [shop.order(order_id) for _, _, order_id, _ in results if order_id]
    assert len({o["order_id"] for o in orders}) == FLASH_UNITS
    assert sum(line["quantity"] for o in orders for line in o["stock_lines"]) == FLASH_UNITS
