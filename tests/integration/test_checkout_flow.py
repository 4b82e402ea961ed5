"""POST /checkout and the order lifecycle over HTTP: local API, moto, the Stripe emulator
driven through the real stripe SDK (StripeClient) by the checkout function."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bonestore_infra.bench_checkout import US_ADDRESS, Shop, http_json, shipping_address
from bonestore_infra.local_stack import LocalStack

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    # One stack per test process (tests/conftest.py): stacks point the process's
    # environment at themselves, so a second one alongside would confuse the first.
    return Shop(local_stack)


def stock(shop: Shop, sku: str) -> tuple[int, int]:
    product = shop.product(sku)
    return int(product["stock"]), int(product.get("reserved", 0))


def test_happy_path_to_paid(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 10)
    status, body = shop.checkout(
        [{"sku": sku, "quantity": 2, "price": 1}],
        US,
        email="Jane.Doe@Example.com",
    )
    assert status == 201, body
    assert {"order_id", "order_token", "checkout_url", "stripe_session_id"} <= body.keys()
    assert body["amount_subtotal"] == {"amount": 9990, "currency": "USD"}
    assert body["allowed_countries"] == ["US"]
    assert body["shipping_address"] == {
        "name": "Jane Doe",
        "line1": "1 Main St",
        "city": "Springfield",
        "subdivision": "US-IL",
        "postal_code": "62701",
        "country": "US",
    }
    assert body["shipping_method"]["id"] == "standard"  # the cheapest: free from 75.00
    assert body["eligibility"]["eligible"] is True
    assert body["checkout_url"].startswith(shop.stripe)
    assert stock(shop, sku) == (8, 2)
    order = shop.order(body["order_id"])
    assert order["status"] == "pending_payment"
    assert order["stripe_session_id"] == body["stripe_session_id"]
    assert order["email_lc"] == "jane.doe@example.com"
    assert order["items"][0]["unit_price"] == {"amount": 4995, "currency": "USD"}

    done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
    assert done == 200 and result["webhook"]["ok"], result
    order = shop.order(body["order_id"])
    assert order["status"] == "paid"
    assert order["eligibility_at_payment"]["eligible"] is True
    assert order["eligibility_at_checkout"]["ruleset_version"] == order["ruleset_version"]
    assert order["shipping"]["method"] == "standard"
    assert order["payment_intent_id"].startswith("pi_")
    assert order["order_paid_published_at"]
    assert order["stock_state"] == "committed"
    assert "reservation_state" not in order
    assert [e["type"] for e in order["events"]][:3] == [
        "checkout_created",
        "stripe_session_created",
        "checkout.session.completed",
    ]
    assert stock(shop, sku) == (8, 0)


def test_ineligible_cart_is_refused_with_per_line_decisions(shop: Shop) -> None:
    before = stock(shop, "TRUEOSTEO-120")
    status, body = shop.checkout(
        [{"sku": "TRUEOSTEO-120", "quantity": 1}, {"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
        {"country": "CA"},
    )
    assert status == 422
    assert body["error"]["code"] == "not_shippable"
    lines = {line["sku"]: line for line in body["error"]["details"]}
    assert lines["TRUEOSTEO-120"]["eligible"] is False and lines["TRUEOSTEO-120"]["reasons"]
    assert lines["BONE-APPETIT-BOOK"]["eligible"] is True
    assert stock(shop, "TRUEOSTEO-120") == before


def test_digital_only_cart(shop: Shop) -> None:
    status, body = shop.checkout([{"sku": "ORP-EBOOK", "quantity": 1}])
    assert status == 201, body
    assert body["allowed_countries"] is None
    done, result = shop.complete(
        body["stripe_session_id"],
        customer_details={"email": "d@example.com", "address": {"line1": "1 St", "country": "DE"}},
    )
    assert done == 200, result
    order = shop.order(body["order_id"])
    assert order["status"] == "paid"
    assert order["billing_country"] == "DE"
    assert order["email"] == "d@example.com"


def test_digital_only_refuses_shipping_but_screens_billing(shop: Shop) -> None:
    status, body = shop.checkout([{"sku": "DENSERCISE-EBOOK", "quantity": 1}])
    assert status == 201
    done, _ = shop.complete(
        body["stripe_session_id"],
        customer_details={"address": {"line1": "Calle 1", "city": "Havana", "country": "CU"}},
    )
    assert done == 200
    order = shop.order(body["order_id"])
    assert order["status"] == "held"
    assert {r["code"] for r in order["hold_reasons"]} == {"embargoed"}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"items": [{"sku": "NOPE-1", "quantity": 1}]}, "unknown_sku"),
        ({"items": [{"sku": "ORP-EBOOK", "quantity": 0}]}, "invalid_quantity"),
        (
            {
                "items": [{"sku": "DENSERCISE-DVD", "quantity": 1}],
                "shipping_address": shipping_address({"country": "XX"}),
            },
            "invalid_country",
        ),
        (
            {
                "items": [{"sku": "DENSERCISE-DVD", "quantity": 1}],
                "shipping_address": shipping_address({"country": "ca", "postal_code": "1"}),
            },
            "invalid_postal_code",
        ),
        ({"items": [{"sku": "ORP-EBOOK", "quantity": 1}], "success_url": "ftp://x"}, "invalid_url"),
    ],
)
def test_bad_input_is_a_named_400(shop: Shop, payload: dict[str, Any], code: str) -> None:
    items = payload.pop("items")
    status, body = shop.checkout(items, **payload)
    assert status == 400, body
    assert body["error"]["code"] == code
    if code == "unknown_sku":
        assert "NOPE-1" in body["error"]["message"]


def test_out_of_stock_names_the_sku(shop: Shop) -> None:
    sku = shop.clone("DENSERCISE-DVD", 1)
    status, body = shop.checkout(
        [{"sku": sku, "quantity": 2}, {"sku": "ORP-EBOOK", "quantity": 1}], US
    )
    assert status == 409
    assert body["error"]["code"] == "out_of_stock"
    assert body["error"]["details"] == [{"sku": sku}]
    assert sku in body["error"]["message"]
    assert stock(shop, sku) == (1, 0)


@pytest.mark.parametrize("failure", [500, "timeout"])
def test_stripe_down_releases_the_stock(shop: Shop, failure: int | str) -> None:
    sku = shop.clone("BONE-APPETIT-BOOK", 3)
    shop.fail_stripe(2, failure, delay=0.1)  # the SDK's one retry fails too
    status, body = shop.checkout([{"sku": sku, "quantity": 2}], US)
    assert status == 503, body
    assert body["error"]["code"] == "payment_provider_unavailable"
    assert stock(shop, sku) == (3, 0)
    failed = [o for o in _orders_with(shop, sku)]
    assert [o["status"] for o in failed] == ["payment_failed"]
    # And the next attempt goes through.
    status, body = shop.checkout([{"sku": sku, "quantity": 2}], US)
    assert status == 201, body
    assert stock(shop, sku) == (1, 2)


def test_expiry_puts_the_stock_back(shop: Shop) -> None:
    sku = shop.clone("RESTWELL-60", 4)
    status, body = shop.checkout([{"sku": sku, "quantity": 3}], US)
    assert status == 201
    assert stock(shop, sku) == (1, 3)
    done, _ = shop.expire(body["stripe_session_id"])
    assert done == 200
    assert shop.order(body["order_id"])["status"] == "expired"
    assert stock(shop, sku) == (4, 0)


def test_an_address_the_rules_refuse_is_refused_before_payment(shop: Shop) -> None:
    sku = shop.clone("D3K2-60", 5)
    virgin_islands = {"country": "US", "subdivision": "VI", "postal_code": "00802",
                      "city": "Charlotte Amalie"}  # fmt: skip
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], virgin_islands)
    assert status == 422, body
    assert body["error"]["code"] == "not_shippable"
    assert stock(shop, sku) == (5, 0)


@pytest.mark.parametrize("destination", [None, {"country": "US"}])
def test_a_physical_cart_needs_the_whole_address(
    shop: Shop, destination: dict[str, Any] | None
) -> None:
    body: dict[str, Any] = {
        "items": [{"sku": "DENSERCISE-DVD", "quantity": 1}],
        "success_url": "https://shop.example.com/ok",
        "cancel_url": "https://shop.example.com/no",
    }
    if destination is not None:
        body["destination"] = destination  # v1's bare destination
    status, answer = http_json("POST", f"{shop.api}/checkout", body)
    assert status == 422, answer
    assert answer["error"]["code"] == "shipping_address_required"


def test_embargoed_billing_country_is_held(shop: Shop) -> None:
    status, body = shop.checkout([{"sku": "BONE-APPETIT-BOOK", "quantity": 1}], US)
    assert status == 201
    done, _ = shop.complete(
        body["stripe_session_id"],
        shipping_details=US_ADDRESS,
        customer_details={"address": {"line1": "Calle 1", "city": "Havana", "country": "CU"}},
    )
    assert done == 200
    assert shop.order(body["order_id"])["status"] == "held"


def test_digital_order_with_only_an_embargoed_billing_country_is_held(shop: Shop) -> None:
    status, body = shop.checkout([{"sku": "ORP-EBOOK", "quantity": 1}], None)
    assert status == 201
    assert body["allowed_countries"] is None
    done, _ = shop.complete(
        body["stripe_session_id"],
        customer_details={"email": "buyer@example.com", "address": {"country": "IR"}},
    )
    assert done == 200
    order = shop.order(body["order_id"])
    assert order["status"] == "held"
    assert order["eligibility_at_payment"]["eligible"] is False


def test_async_payment_succeeds_or_fails(shop: Shop) -> None:
    sku = shop.clone("DENSERCISE-DVD", 10)
    ok_status, ok = shop.checkout([{"sku": sku, "quantity": 1}], US)
    bad_status, bad = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert ok_status == bad_status == 201
    for body in (ok, bad):
        done, _ = shop.complete(
            body["stripe_session_id"], shipping_details=US_ADDRESS, **{"async": True}
        )
        assert done == 200
        order = shop.order(body["order_id"])
        assert order["status"] == "pending_payment"
        assert order["reservation_state"] == "awaiting_payment"
    shop.settle_async(ok["stripe_session_id"], True)
    shop.settle_async(bad["stripe_session_id"], False)
    assert shop.order(ok["order_id"])["status"] == "paid"
    assert shop.order(bad["order_id"])["status"] == "payment_failed"
    assert stock(shop, sku) == (9, 0)


def _orders_with(shop: Shop, sku: str) -> list[dict[str, Any]]:
    from bonestore.adapters.dynamo import scan_all

    return [
        o
        for o in scan_all(shop.dynamodb, shop.orders_table)
        if any(line["sku"] == sku for line in o.get("items", []))
    ]


def _load_sweeper() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bonestore_test_sweeper", REPO / "functions" / "sweeper" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_sweeper_releases_reservations_whose_expiry_never_came(shop: Shop) -> None:
    sku = shop.clone("BONE-APPETIT-BOOK", 5)
    stale_status, stale = shop.checkout([{"sku": sku, "quantity": 2}], US)
    paid_status, paid = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert stale_status == paid_status == 201
    # Paid, but the webhook is lost: the sweeper must settle it, never release it.
    webhook_url = shop.stack.stripe.webhook_url
    shop.stack.stripe.webhook_url = None
    try:
        done, _ = shop.complete(paid["stripe_session_id"], shipping_details=US_ADDRESS)
    finally:
        shop.stack.stripe.webhook_url = webhook_url
    assert done == 200
    assert stock(shop, sku) == (2, 3)
    sweeper = _load_sweeper()
    assert sweeper.sweep(now=datetime.now(UTC)).get("released", 0) == 0  # nothing stale yet
    counts = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=1))
    assert counts["released"] >= 1 and counts["settled"] == 1
    assert shop.order(stale["order_id"])["status"] == "expired"
    assert shop.order(paid["order_id"])["status"] == "paid"
    assert stock(shop, sku) == (4, 0)
    assert sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=1))["checked"] == 0


def test_a_retry_with_the_same_idempotency_key_gets_the_same_checkout(shop: Shop) -> None:
    sku = shop.clone("DENSERCISE-DVD", 3)
    cart = {
        "items": [{"sku": sku, "quantity": 1}],
        "shipping_address": shipping_address(US),
        "success_url": "https://shop.example/ok",
        "cancel_url": "https://shop.example/no",
    }
    headers = {"Idempotency-Key": f"retry-{sku}"}
    first = http_json("POST", f"{shop.api}/checkout", cart, headers=headers)
    again = http_json("POST", f"{shop.api}/checkout", cart, headers=headers)
    assert first[0] == again[0] == 201
    assert again[1]["order_id"] == first[1]["order_id"]
    assert again[1]["order_token"] == first[1]["order_token"]  # derived again, never stored
    assert shop.product(sku)["stock"] == 2  # reserved once
    other = http_json(
        "POST",
        f"{shop.api}/checkout",
        {**cart, "items": [{"sku": sku, "quantity": 2}]},
        headers=headers,
    )
    assert other[0] == 409
    assert other[1]["error"]["code"] == "idempotency_key_reused"
