"""Acceptance: the HTTP contract v2 (docs/api.md states it for this repository), the
clauses no other test pins against the running local stack, as a reviewer (and a
careless client, and an attacker) would try them over HTTP.

Each test is named for its clause and quotes it. The flows go through the real local
stack: the API, moto, the Stripe emulator and its signed webhooks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bonestore.api.json_body import MAX_BODY_BYTES
from bonestore_infra.bench_checkout import Shop, http_json, shipping_address
from bonestore_infra.local_stack import LocalStack
from tests.helpers import Http, assert_error, product_body
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
CART = {"destination": {"country": "US"}, "items": [{"sku": "ORP-EBOOK", "quantity": 1}]}
URLS = {"success_url": "https://shop.example.com/ok", "cancel_url": "https://shop.example.com/no"}


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def checkout(shop: Shop, items: dict[str, int], **extra: Any) -> dict[str, Any]:
    status, body = shop.checkout(
        [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()], **extra
    )
    assert status == 201, body
    return dict(body)


def money_fields(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every ``{"amount", ...}`` object in a JSON body, with where it is."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        if "amount" in value and "currency" in value:
            found.append((path, value))
        for key, inner in value.items():
            found += money_fields(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += money_fields(inner, f"{path}[{index}]")
    return found


def floats(value: Any, path: str = "") -> list[str]:
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for key, inner in value.items() for p in floats(inner, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for index, inner in enumerate(value) for p in floats(inner, f"{path}[{index}]")]
    return []


def assert_money_everywhere(body: Any) -> None:
    """ "Money is an integer in minor units plus an ISO 4217 currency"; never a float."""
    assert not floats(body), floats(body)
    for path, money in money_fields(body):
        assert set(money) == {"amount", "currency"}, (path, money)
        assert type(money["amount"]) is int and money["amount"] >= 0, (path, money)
        currency = money["currency"]
        assert isinstance(currency, str) and len(currency) == 3 and currency.isupper(), path


# ---------------------------------------------------------------- money and shapes


def test_money_is_integer_minor_units_and_a_currency_in_every_answer(shop: Shop, api: Http) -> None:
    """ "Money is an integer in minor units plus an ISO 4217 currency": in the catalog, an
    eligibility answer, a checkout's 201, the customer's order page and the support view."""
    body = checkout(shop, {"TRUEOSTEO-120": 1, "ORP-EBOOK": 1}, destination=US)
    done, _ = shop.complete(body["stripe_session_id"], shipping_details=_stripe_address(US))
    assert done == 200
    answers = [
        api.get("/products?country=US").json(),
        api.post(
            "/eligibility",
            {"destination": US, "items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}]},
        ).json(),
        body,
        shop.customer_order(body["order_id"], body["order_token"])[1],
        api.get(f"/support/orders/{body['order_id']}", token=staff_token("support")).json(),
    ]
    for answer in answers:
        assert money_fields(answer), answer
        assert_money_everywhere(answer)
    page = answers[3]
    # 49.95 + 97.00 + standard 5.95: the eBook is no "goods" towards free shipping.
    assert page["amount_total"] == {"amount": 4995 + 9700 + 595, "currency": "USD"}
    assert page["shipping_method"]["price"] == {"amount": 595, "currency": "USD"}


def _stripe_address(destination: dict[str, str]) -> dict[str, Any]:
    address = shipping_address(destination)
    return {
        "name": address["name"],
        "address": {
            "line1": address["line1"],
            "city": address["city"],
            "state": address.get("subdivision"),
            "postal_code": address.get("postal_code"),
            "country": address["country"],
        },
    }


def test_the_order_id_is_the_sessions_client_reference_id_and_metadata(shop: Shop) -> None:
    """ "The order id is the session's `client_reference_id` and `metadata.order_id`."""
    body = checkout(shop, {"BONE-APPETIT-BOOK": 1}, destination=US)
    status, session = http_json(
        "GET",
        f"{shop.stripe}/v1/checkout/sessions/{body['stripe_session_id']}",
        headers={"Authorization": "Bearer sk_test_acceptance"},
    )
    assert status == 200, session
    assert session["client_reference_id"] == body["order_id"]
    assert session["metadata"]["order_id"] == body["order_id"]


def test_prices_a_client_sends_are_ignored(api: Http) -> None:
    """ "Prices come from the catalog only; any price a client sends is ignored."""
    response = api.post(
        "/checkout",
        {
            "items": [
                {"sku": "ORP-EBOOK", "quantity": 2, "price": {"amount": 1, "currency": "USD"}}
            ],
            "amount_total": {"amount": 1, "currency": "USD"},
            **URLS,
        },
    )
    assert response.status == 201, response.body[:300]
    assert response.json()["amount_subtotal"] == {"amount": 19400, "currency": "USD"}


# ---------------------------------------------------------------- carts


@pytest.mark.parametrize("route", ["/eligibility", "/checkout"])
@pytest.mark.parametrize(("count", "status"), [(0, 400), (1, 200), (100, 200), (101, 400)])
def test_a_cart_has_1_to_100_lines(api: Http, route: str, count: int, status: int) -> None:
    """ "A cart has 1 to 100 lines": 0 and 101 lines are 400 `invalid_items`."""
    body = {**CART, "items": [{"sku": "ORP-EBOOK", "quantity": 1}] * count}
    if route == "/checkout":
        body.update(URLS)
    response = api.post(route, body)
    if status == 400:
        assert_error(response, 400, "invalid_items")
    else:
        assert response.status in (200, 201), response.body[:300]


@pytest.mark.parametrize("route", ["/eligibility", "/checkout"])
@pytest.mark.parametrize("quantity", [0, -1, 1000, 1.5, 2.0, "2", True, None, [1]])
def test_a_quantity_is_an_integer_from_1_to_999(api: Http, route: str, quantity: Any) -> None:
    """ "a quantity is an integer from 1 to 999": anything else is 400 `invalid_quantity`."""
    body = {**CART, "items": [{"sku": "ORP-EBOOK", "quantity": quantity}], **URLS}
    assert_error(api.post(route, body), 400, "invalid_quantity")


def test_lines_of_one_sku_are_merged_and_still_at_most_999(api: Http) -> None:
    """docs/api.md: "Lines naming the same SKU are merged"; `invalid_quantity` is "a
    quantity out of 1..999 (after merging duplicate SKUs)"."""
    items = [{"sku": "ORP-EBOOK", "quantity": 500}, {"sku": "orp-ebook", "quantity": 500}]
    error = assert_error(api.post("/checkout", {"items": items, **URLS}), 400, "invalid_quantity")
    assert "ORP-EBOOK" in error["message"]


@pytest.mark.parametrize(
    "at",
    [
        5, 1769817600, "1769817600", "2026-01-31", True, "31/01/2026", "2026-01-31T00:00:00",
        # Offsets that move the time out of the years 1 to 9999 in UTC (a 500, before).
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00",
    ],
)  # fmt: skip
def test_at_is_an_iso_8601_point_in_time(api: Http, at: Any) -> None:
    """`"at": "2026-01-31T00:00:00Z"?  # optional point in time` (docs/api.md: "an ISO 8601
    instant with its offset"): a number is not one, though pydantic would read it as Unix
    seconds and decide in 1970."""
    assert_error(api.post("/eligibility", {**CART, "at": at}), 400, "invalid_time")


@pytest.mark.parametrize(
    ("at", "evaluated"),
    [
        ("2026-01-31T00:00:00Z", "2026-01-31T00:00:00"),
        ("2026-01-31T01:00:00+01:00", "2026-01-31T00:00:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00"),
        ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59"),
    ],
)
def test_at_with_its_offset_is_decided_then(api: Http, at: str, evaluated: str) -> None:
    """The point in time the decision was made for is the one asked, in UTC, from the
    first instant of year 1 to the last of 9999."""
    response = api.post("/eligibility", {**CART, "at": at})
    assert response.status == 200, response.body[:300]
    assert response.json()["evaluated_at"].startswith(evaluated)


# ---------------------------------------------------------------- v2 body rules


def _staff_body_routes(order_id: str) -> list[tuple[str, str, dict[str, Any], str]]:
    return [
        ("POST", f"/support/orders/{order_id}/release", {"reason": "checked"}, "support"),
        ("POST", f"/support/orders/{order_id}/refund", {"reason": "asked"}, "support"),
        (
            "POST",
            f"/admin/orders/{order_id}/shipments",
            {"carrier": "UPS", "tracking_number": "1Z999AA10123456784"},
            "warehouse",
        ),
    ]


STAFF_ROUTE_IDS = ["release", "refund", "shipments"]


@pytest.mark.parametrize("index", range(3), ids=STAFF_ROUTE_IDS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_staff_bodies_not_json_by_media_type_are_415(
    api: Http, index: int, content_type: str
) -> None:
    """ "for every route that takes a body: a body that is not JSON by its media type → 415
    `unsupported_media_type`" (the held-order actions and shipments take bodies too)."""
    method, path, body, group = _staff_body_routes("ord_acceptance_415")[index]
    response = api.request(
        method, path, body, headers={"Content-Type": content_type}, token=staff_token(group)
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("index", range(3), ids=STAFF_ROUTE_IDS)
@pytest.mark.parametrize(
    "raw", [b'{"reason": "\xff"}', b'{"reason": ', b'{"a":' * 40 + b"1" + b"}" * 40, b"[]"]
)
def test_staff_bodies_not_utf8_json_objects_are_400_invalid_json(
    api: Http, index: int, raw: bytes
) -> None:
    """ "a body that is not valid UTF-8, not valid JSON, or nested deeper than the API needs
    → 400 `invalid_json`"."""
    method, path, _, group = _staff_body_routes("ord_acceptance_400")[index]
    assert_error(api.request(method, path, raw=raw, token=staff_token(group)), 400, "invalid_json")


@pytest.mark.parametrize("index", range(3), ids=STAFF_ROUTE_IDS)
def test_staff_bodies_over_the_limit_are_413(api: Http, index: int) -> None:
    """ "a body over the documented size limit → 413 `payload_too_large`"."""
    method, path, body, group = _staff_body_routes("ord_acceptance_413")[index]
    raw = json.dumps({**body, "padding": "x" * MAX_BODY_BYTES}).encode()
    response = api.request(method, path, raw=raw, token=staff_token(group))
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("index", range(3), ids=STAFF_ROUTE_IDS)
def test_staff_bodies_with_missing_fields_are_400_not_5xx(api: Http, index: int) -> None:
    """ "Bad input is always a 4xx": an empty object, or fields of the wrong type."""
    method, path, body, group = _staff_body_routes("ord_acceptance_missing")[index]
    token = staff_token(group)
    for bad in ({}, {key: 5 for key in body}, {key: "" for key in body}):
        response = api.request(method, path, bad, token=token)
        assert 400 <= response.status < 500, (bad, response.status, response.body[:300])
        assert_error(response, response.status)


# ---------------------------------------------------------------- the customer's order


def test_another_customers_order_token_is_the_same_404(shop: Shop) -> None:
    """ "404 `order_not_found` for an unknown id and for a wrong or missing token alike": a
    real token of another order opens nothing."""
    mine = checkout(shop, {"ORP-EBOOK": 1})
    theirs = checkout(shop, {"DENSERCISE-EBOOK": 1})
    status, body = shop.customer_order(theirs["order_id"], mine["order_token"])
    assert status == 404 and body["error"]["code"] == "order_not_found"
    assert shop.customer_order(theirs["order_id"], theirs["order_token"])[0] == 200


def test_the_order_token_is_only_for_the_order_page(shop: Shop, api: Http) -> None:
    """`order_token` is "a secret for the customer's own order": it is no staff token."""
    mine = checkout(shop, {"ORP-EBOOK": 1})
    response = api.get(f"/support/orders/{mine['order_id']}", token=mine["order_token"])
    assert_error(response, 401, "unauthorized")
    response = api.get(
        f"/support/orders/{mine['order_id']}", headers={"X-Order-Token": mine["order_token"]}
    )
    assert_error(response, 401, "unauthorized")


# ---------------------------------------------------------------- staff


def _held_order(shop: Shop) -> dict[str, Any]:
    """An order shipped to the US but billed in an embargoed country: held after payment."""
    body = checkout(shop, {"BONE-APPETIT-BOOK": 1}, destination=US)
    done, _ = shop.complete(
        body["stripe_session_id"],
        shipping_details=_stripe_address(US),
        customer_details={"address": {"line1": "Calle 1", "city": "Havana", "country": "CU"}},
    )
    assert done == 200
    assert shop.wait_status(body["order_id"], "held")["status"] == "held"
    return body


def _reasons(value: Any) -> list[dict[str, Any]]:
    """Every Reason in an answer: the entries of each ``reasons`` list, at any depth."""
    if isinstance(value, list):
        return [reason for inner in value for reason in _reasons(inner)]
    if not isinstance(value, dict):
        return []
    found = [r for r in value.get("reasons") or [] if isinstance(r, dict)]
    return found + [r for k, v in value.items() if k != "reasons" for r in _reasons(v)]


def test_every_reason_shown_to_staff_carries_source_and_note_in_support_eligibility(
    api: Http,
) -> None:
    """ "Every Reason shown to staff carries the rule's `source` and `note`": the reasons of
    `POST /support/eligibility`, each line's and each shipping method's."""
    cart = {
        "destination": {"country": "US", "subdivision": "US-IL", "line1": "PO Box 12"},
        "items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
    }
    au = {"destination": {"country": "CA"}, "items": [{"sku": "TRUEOSTEO-120", "quantity": 1}]}
    for body in (cart, au):
        response = api.post("/support/eligibility", body, token=staff_token("support"))
        assert response.status == 200, response.body[:300]
        reasons = _reasons(response.json())
        assert reasons
        for reason in reasons:
            assert {"rule_id", "code", "message", "source", "note"} <= set(reason), reason
            assert reason["source"], reason
    public = api.post("/eligibility", au).json()
    assert {"source", "note"}.isdisjoint(public["items"][0]["reasons"][0])  # staff only


def test_every_reason_shown_to_staff_carries_source_and_note_in_the_support_order(
    shop: Shop, api: Http
) -> None:
    """ "Every Reason shown to staff carries the rule's `source` and `note`": a held order's
    decisions at payment and now, per line, in `GET /support/orders/{order_id}`."""
    held = _held_order(shop)
    view = api.get(f"/support/orders/{held['order_id']}", token=staff_token("support")).json()
    assert view["status"] == "held"
    for name in ("at_checkout", "at_payment", "now"):
        assert view["eligibility"][name] is not None, name
    shown = _reasons(view)
    embargo = [reason for reason in shown if reason["rule_id"] == "embargo-cuba"]
    assert len(embargo) >= 4, shown  # hold, at payment's billing check, now's, its decision
    for reason in shown:
        assert {"source", "note"} <= set(reason), reason
    assert all("31 CFR part 515" in reason["source"] for reason in embargo), embargo


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/support/orders/ord_x"),
        ("GET", "/support/orders?status=held"),
        ("POST", "/support/eligibility"),
        ("POST", "/support/orders/ord_x/release"),
        ("POST", "/support/orders/ord_x/refund"),
        ("PUT", "/admin/products/ACCEPT-X"),
        ("DELETE", "/admin/products/ACCEPT-X"),
        ("POST", "/admin/orders/ord_x/shipments"),
    ],
)
def test_a_customer_groups_token_is_403(api: Http, method: str, path: str) -> None:
    """ "401 without a valid token, 403 for another group": a real token of the `customer`
    group (the contract's dev-token example) reaches no staff route."""
    response = api.request(method, path, {}, token=staff_token("customer"))
    assert_error(response, 403, "forbidden")


def test_the_support_list_by_email_ignores_case_and_by_status_is_oldest_first(
    shop: Shop, api: Http
) -> None:
    """ "email matched case-insensitively; by status, oldest first"."""
    first, second = _held_order(shop), _held_order(shop)
    token = staff_token("support")
    items = api.get("/support/orders?status=held", token=token).json()["items"]
    ids = [item["order_id"] for item in items]
    if first["order_id"] in ids and second["order_id"] in ids:
        assert ids.index(first["order_id"]) < ids.index(second["order_id"])
    created = [item["created_at"] for item in items]
    assert created == sorted(created)
    email = "Acceptance.Case@Example.COM"
    mine = checkout(shop, {"ORP-EBOOK": 1}, email=email)
    found = api.get("/support/orders?email=acceptance.case@example.com", token=token).json()
    assert mine["order_id"] in [item["order_id"] for item in found["items"]]
    for item in found["items"]:
        assert set(item) >= {"order_id", "status", "email", "created_at", "amount_total"}


# ---------------------------------------------------------------- admin


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "QQQ"])
def test_a_product_price_is_in_an_iso_4217_currency(api: Http, currency: str) -> None:
    """ "Money is an integer in minor units plus an ISO 4217 currency": a price in a code
    that is no currency is 400 `invalid_price`, not a product Stripe will refuse to sell."""
    product = product_body("program", currency=currency)
    response = api.request("PUT", "/admin/products/ACCEPT-CUR-1", product, token=staff_token("ops"))
    assert_error(response, 400, "invalid_price")
    assert api.get("/products/ACCEPT-CUR-1").status == 404


@pytest.mark.parametrize("kind", ["book", "media"])
def test_a_physical_product_is_priced_in_the_currency_its_shipping_is(api: Http, kind: str) -> None:
    """Shipping is priced in USD and one checkout charges goods and shipping in one
    currency: a book in EUR was quoted USD shipping and its checkout failed at Stripe
    (a 502). It is refused where it is written, 400 `invalid_price`."""
    product = product_body(kind, currency="EUR", stock=5)
    response = api.request("PUT", "/admin/products/ACCEPT-CUR-3", product, token=staff_token("ops"))
    error = assert_error(response, 400, "invalid_price")
    assert "USD" in error["message"]
    assert api.get("/products/ACCEPT-CUR-3").status == 404


def test_a_product_price_in_another_real_currency_is_accepted(api: Http) -> None:
    """The check is ISO 4217, not "USD only": EUR in any case is a price."""
    product = product_body("program", currency="eur")
    response = api.request("PUT", "/admin/products/ACCEPT-CUR-2", product, token=staff_token("ops"))
    assert response.status in (200, 201), response.body[:300]
    assert response.json()["price"] == {"amount": 1000, "currency": "EUR"}
    assert (
        api.request("DELETE", "/admin/products/ACCEPT-CUR-2", token=staff_token("ops")).status
        == 200
    )


# ---------------------------------------------------------------- checkout, address first


@pytest.mark.parametrize("missing", ["name", "line1", "city"])
def test_an_address_without_its_name_line1_or_city_is_invalid_address(
    api: Http, missing: str
) -> None:
    """docs/api.md: `invalid_address` 400, "the shipping address lacks its name, line 1 or
    city"."""
    address = {k: v for k, v in shipping_address(US).items() if k != missing}
    body = {"items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}], "shipping_address": address}
    assert_error(api.post("/checkout", {**body, **URLS}), 400, "invalid_address")


@pytest.mark.parametrize("field", ["name", "line1", "city"])
def test_an_address_with_a_blank_name_line1_or_city_is_invalid_address(
    api: Http, field: str
) -> None:
    """docs/api.md: `invalid_address` 400, "the shipping address lacks its name, line 1 or
    city": blank counts as lacking."""
    address = {**shipping_address(US), field: "   "}
    body = {"items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}], "shipping_address": address}
    assert_error(api.post("/checkout", {**body, **URLS}), 400, "invalid_address")


@pytest.mark.parametrize(
    ("destination", "method"),
    [
        ({"country": "US", "subdivision": "AE", "postal_code": "09001", "city": "APO"}, "express"),
        ({"country": "JP", "subdivision": "JP-13", "postal_code": "100-0001"}, "express"),
        ({**US, "line1": "P.O. Box 7"}, "express"),
    ],
    ids=["military", "japan", "po-box"],
)
def test_no_customer_can_pay_for_a_method_the_rules_refuse_there(
    shop: Shop, destination: dict[str, str], method: str
) -> None:
    """ "So no customer can pay for a destination or a method the rules refuse for where the
    parcel goes": 422 `shipping_method_unavailable` naming the methods offered, and
    nothing reserved."""
    sku = shop.clone("BONE-APPETIT-BOOK", 5)
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], destination, shipping_method=method)
    assert status == 422, body
    assert body["error"]["code"] == "shipping_method_unavailable"
    assert [m["id"] for m in body["error"]["details"][0]["offered"]] == ["standard"]
    assert int(shop.product(sku).get("reserved", 0)) == 0


def test_the_surcharged_express_price_is_what_stripe_charges(shop: Shop) -> None:
    """ "the customer is charged for that address and that method": express to Hawaii is
    19.95 + 20.00 in the session Stripe shows."""
    hawaii = {"country": "US", "subdivision": "HI", "postal_code": "96813", "city": "Honolulu"}
    body = checkout(shop, {"BONE-APPETIT-BOOK": 1}, destination=hawaii, shipping_method="express")
    assert body["shipping_method"]["price"] == {"amount": 3995, "currency": "USD"}
    status, session = http_json(
        "GET",
        f"{shop.stripe}/v1/checkout/sessions/{body['stripe_session_id']}",
        headers={"Authorization": "Bearer sk_test_acceptance"},
    )
    assert status == 200
    assert session["shipping_cost"]["amount_total"] == 3995
    assert session["amount_total"] == 2995 + 3995
    assert session.get("shipping_address_collection") is None  # no other address at Stripe


# ---------------------------------------------------------------- local run


def test_serve_defaults_to_port_3000_and_the_emulator_to_12111() -> None:
    """ "`bonestore serve` starts, on loopback, the API on port 3000 ..., a local Stripe
    emulator ... on port 12111" (asked of the CLI's parser: the ports may be taken here)."""
    import argparse

    from bonestore_infra import serve_cli

    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.stripe_port) == ("127.0.0.1", 3000, 12111)


def test_serve_reads_the_webhook_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "It reads `STRIPE_WEBHOOK_SECRET` from the environment (a documented default
    otherwise)": the README's `whsec_bonestore_local_dev`."""
    from bonestore_infra.local_stack import StackConfig

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_acceptance")
    assert StackConfig().webhook_secret == "whsec_acceptance"
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    assert StackConfig().webhook_secret == "whsec_bonestore_local_dev"


def test_a_storefront_on_another_origin_may_send_the_order_token(api: Http) -> None:
    """ "`GET /orders/{order_id}` with header `X-Order-Token`": where the storefront is on
    another origin (StorefrontOrigin an https:// origin, or "*" as locally), the browser
    sends that header only if the preflight allows it."""
    response = api.request(
        "OPTIONS",
        "/orders/ord_acceptance_cors",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-order-token",
        },
    )
    assert response.status in (200, 204), response.body[:300]
    allowed = response.headers.get("Access-Control-Allow-Headers", "")
    assert "x-order-token" in {h.strip().lower() for h in allowed.split(",")}, allowed


# ---------------------------------------------------------------- normalization


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        (
            {"country": "ca", "subdivision": "qc", "postal_code": "h2x1y4"},
            {"country": "CA", "subdivision": "CA-QC", "postal_code": "H2X 1Y4"},
        ),
        (
            {"country": "us", "subdivision": "us-hi", "postal_code": "96813 1234"},
            {"country": "US", "subdivision": "US-HI", "postal_code": "96813-1234"},
        ),
        (
            {"country": "Us", "subdivision": "ae", "postal_code": "090011234"},
            {"country": "US", "subdivision": "US-AE", "postal_code": "09001-1234"},
        ),
        ({"country": "gb", "postal_code": "sw1a1aa"}, {"country": "GB", "postal_code": "SW1A 1AA"}),
    ],
    ids=["ca", "us-zip4", "military", "gb"],
)
def test_input_is_case_insensitive_and_echoed_normalized_at_checkout(
    api: Http, sent: dict[str, str], echoed: dict[str, str]
) -> None:
    """ "input is case-insensitive and is echoed back normalized. Postal codes are echoed in
    the country's canonical form (`h2x1y4` → `H2X 1Y4` in CA; US ZIP or ZIP+4)": in
    `/eligibility`'s destination and in the checkout's `shipping_address`."""
    items = [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}]
    decision = api.post("/eligibility", {"destination": sent, "items": items}).json()
    assert decision["destination"] == echoed
    address = {"name": "Jane Doe", "line1": "1 Main St", "city": "Town", **sent}
    response = api.post("/checkout", {"items": items, "shipping_address": address, **URLS})
    assert response.status == 201, response.body[:300]
    body = response.json()
    assert {k: body["shipping_address"][k] for k in echoed} == echoed
    assert body["allowed_countries"] == [echoed["country"]]


def test_the_order_token_header_is_read_without_surrounding_whitespace(shop: Shop) -> None:
    """`X-Order-Token` is a header: its value has no surrounding whitespace (RFC 9110 5.5),
    which API Gateway strips and so must the local gateway."""
    mine = checkout(shop, {"ORP-EBOOK": 1})
    status, body = shop.customer_order(mine["order_id"], f"  {mine['order_token']} \t")
    assert status == 200, body
    assert body["order_id"] == mine["order_id"]


def _as_decimals(value: Any) -> Any:
    from decimal import Decimal, InvalidOperation

    if isinstance(value, list):
        return [_as_decimals(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_decimals(v) for k, v in value.items()}
    if isinstance(value, bool):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return value


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (1.5, 200),
        ([0.25, 2], 200),
        ({"kg": 0.4}, 200),
        (10**38, 400),
        (-(10**40), 400),
        (1e-300, 400),
        ("12 capsules", 200),
    ],
    ids=["fraction", "list", "object", "39-digits", "huge", "tiny", "text"],
)
def test_a_product_attribute_is_stored_or_refused_never_a_5xx(
    api: Http, value: Any, status: int
) -> None:
    """ "A 5xx on any input a client can send is a bug": an extra attribute (rules may
    match any attribute) that is a fraction is stored as the decimal it reads back as; a
    number DynamoDB cannot hold is a 400."""
    _put_attribute_product(api, {"extra": value}, status)


@pytest.mark.parametrize("amount", [1e200, 10**40, 1e-200])
def test_an_ingredient_amount_the_table_cannot_hold_is_a_400(api: Http, amount: Any) -> None:
    """ "A 5xx on any input a client can send is a bug": an ingredient's daily amount."""
    attributes = {"supply_days": 30, "ingredients": {"vitamin_d3": {"amount": amount}}}
    _put_attribute_product(api, attributes, 400)


def _put_attribute_product(api: Http, attributes: dict[str, Any], status: int) -> None:
    product = product_body("program", attributes=attributes)
    ops = staff_token("ops")
    response = api.request("PUT", "/admin/products/ACCEPT-ATTR-1", product, token=ops)
    if status == 400:
        assert_error(response, 400)
        return
    assert response.status in (200, 201), response.body[:300]
    # Decimals are echoed as JSON text, as ingredient amounts are ("400").
    echoed = response.json()["attributes"]
    assert _as_decimals(echoed["extra"]) == _as_decimals(attributes["extra"])
    assert api.post(
        "/eligibility",
        {"destination": {"country": "US"}, "items": [{"sku": "ACCEPT-ATTR-1", "quantity": 1}]},
    ).json()["eligible"]


def test_countries_examples_are_the_canonical_codes_the_api_accepts(api: Http) -> None:
    """`GET /countries` → `postal_code: {"required": bool, "example"}`, "what a storefront
    needs to build its address form": each example is accepted and echoed unchanged (it is
    the canonical form), and a required code of the wrong form is 400."""
    items = api.get("/countries").json()["items"]
    problems = []
    for country in items:
        postal = country["postal_code"]
        cart = {"items": [{"sku": "ORP-EBOOK", "quantity": 1}]}
        if postal.get("example"):
            destination = {"country": country["code"], "postal_code": postal["example"]}
            answer = api.post("/eligibility", {**cart, "destination": destination})
            if answer.status != 200 or answer.json()["destination"] != destination:
                problems.append((country["code"], postal["example"], answer.status))
        if postal["required"]:
            wrong = {"country": country["code"], "postal_code": "!!"}
            if api.post("/eligibility", {**cart, "destination": wrong}).status != 400:
                problems.append((country["code"], "!! accepted"))
    assert problems == []
