"""Idempotency under concurrency, over HTTP against the local stack (issue 11).

The local gateway runs each function in several warm instances; these tests fail
when the instances disagree on what Powertools keys idempotency records on (the
module name and ``AWS_LAMBDA_FUNCTION_NAME``), as they did: 10 orders for one key.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe

from bonestore_infra.bench_checkout import US_ADDRESS, Shop, http_json, shipping_address
from bonestore_infra.local_stack import LocalStack

pytestmark = pytest.mark.integration

CALLERS = 10


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def checkout_body(sku: str, email: str) -> dict[str, Any]:
    return {
        "items": [{"sku": sku, "quantity": 1}],
        "shipping_address": shipping_address({"country": "US"}),
        "email": email,
        "success_url": "https://shop.example.com/thanks",
        "cancel_url": "https://shop.example.com/cart",
    }


def post_checkout(shop: Shop, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    return http_json("POST", f"{shop.api}/checkout", body, headers=headers)


def orders_for(shop: Shop, email: str) -> list[dict[str, Any]]:
    from bonestore.adapters.dynamo import from_item

    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": shop.orders_table,
        "FilterExpression": "email = :e",
        "ExpressionAttributeValues": {":e": {"S": email}},
        "ConsistentRead": True,
    }
    while True:
        page = shop.dynamodb.scan(**kwargs)
        found.extend(from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_concurrent_checkouts_with_one_key_make_one_order(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 20)
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    body, key = checkout_body(sku, email), f"key-{uuid.uuid4()}"

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(lambda _: post_checkout(shop, body, key), range(CALLERS)))

    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {201, 409}, results
    assert statuses[201] >= 1, results
    assert {b["error"]["code"] for s, b in results if s == 409} <= {"request_in_progress"}
    assert len({b["order_id"] for s, b in results if s == 201}) == 1, results
    assert len(orders_for(shop, email)) == 1
    product = shop.product(sku)
    assert (product["stock"], product["reserved"]) == (19, 1)

    # The callers told to retry get the same order once the first has answered.
    status, again = post_checkout(shop, body, key)
    assert status == 201
    assert again["order_id"] == next(b["order_id"] for s, b in results if s == 201)
    assert len(orders_for(shop, email)) == 1


def test_retries_with_other_traffic_between_make_one_order(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 50)
    email = f"retry-{uuid.uuid4().hex[:8]}@example.com"
    body, key = checkout_body(sku, email), f"key-{uuid.uuid4()}"

    def other(_: int) -> tuple[int, Any]:
        # Another customer each (one customer's same cart would reuse its open checkout).
        email = f"other-{uuid.uuid4().hex[:8]}@example.com"
        return post_checkout(shop, checkout_body(sku, email), None)

    order_ids = set()
    for _ in range(4):
        status, answer = post_checkout(shop, body, key)
        assert status == 201, answer
        order_ids.add(answer["order_id"])
        # Other customers at once: the gateway warms more instances of the function.
        with ThreadPoolExecutor(max_workers=4) as pool:
            others = list(pool.map(other, range(4)))
        assert all(status == 201 for status, _ in others), others

    assert len(order_ids) == 1
    assert len(orders_for(shop, email)) == 1
    assert shop.product(sku)["reserved"] == 1 + 4 * 4


def test_the_same_key_with_another_cart_is_409(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 5)
    email = f"reuse-{uuid.uuid4().hex[:8]}@example.com"
    key = f"key-{uuid.uuid4()}"
    assert post_checkout(shop, checkout_body(sku, email), key)[0] == 201
    changed = {**checkout_body(sku, email), "items": [{"sku": sku, "quantity": 2}]}
    status, body = post_checkout(shop, changed, key)
    assert status == 409 and body["error"]["code"] == "idempotency_key_reused", body
    assert shop.product(sku)["reserved"] == 1


def test_concurrent_deliveries_of_one_event_apply_it_once(shop: Shop) -> None:
    from bonestore_infra.stripe_emulator.server import payment_from_json

    status, created = shop.checkout(
        [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}], {"country": "US"}
    )
    assert status == 201, created
    session_id = created["stripe_session_id"]
    emulator = shop.stack.stripe
    # Pay the session in the emulator without it delivering the event: we deliver it.
    _, event_ids = emulator.store.complete_session(
        session_id, payment_from_json({"shipping_details": US_ADDRESS})
    )
    [event] = [
        record["event"]
        for record in emulator.events("checkout.session.completed")
        if record["event"]["id"] in event_ids
    ]
    payload = json.dumps(event).encode()
    secret = shop.stack.config.webhook_secret

    def deliver(_: int) -> tuple[int, Any]:
        signature = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret)
        return http_json(
            "POST",
            f"{shop.api}/webhooks/stripe",
            raw=payload,
            headers={"Stripe-Signature": signature},
        )

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(deliver, range(CALLERS)))

    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {200, 409}, results
    assert {b["error"]["code"] for s, b in results if s == 409} <= {"event_in_progress"}
    # Stripe retries the 409s later: harmless.
    assert deliver(0)[0] == 200
    order = shop.order(created["order_id"])
    assert order["status"] == "paid"
    types = [entry["type"] for entry in order["events"]]
    assert types.count("checkout.session.completed") == 1, types
    assert sum(1 for t in types if t == "paid" or t.startswith("order_paid")) <= 1, types
