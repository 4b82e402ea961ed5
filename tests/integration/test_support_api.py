"""The support API over the local server: order lookups (with eligibility three ways), search by
email, and eligibility with the trace. Orders are written as checkout stores them."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bonestore.adapters.orders import order_from_record, order_to_record
from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import normalize_destination
from bonestore.domain.order import OrderEvent
from bonestore.domain.orders import now_iso
from bonestore.domain.rules import CartLine, default_engine
from tests.helpers import Http, assert_error
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration

BEFORE_NPN = datetime(2013, 1, 15, tzinfo=UTC)  # Canada's NPN rule is in force from 2013-06-01


def store_order(
    lines: list[tuple[str, int]],
    destination: dict[str, Any] | None,
    *,
    email: str | None = None,
    decided_at: datetime | None = None,
    paid: bool = True,
) -> dict[str, Any]:
    """Write an order as checkout (and, when ``paid``, the webhook) would, deciding at
    ``decided_at``; no stock is reserved, so the shared seed catalog is left alone."""
    from bonestore.api.deps import order_repository

    products = {p.sku: p for p in seed_catalog()}
    engine = default_engine()
    dest = normalize_destination(destination) if destination else None
    cart = [CartLine(products[sku], qty) for sku, qty in lines]
    decision = engine.decide(cart, dest, decided_at).to_json() if dest else None
    items = [
        {
            "sku": sku,
            "quantity": qty,
            "unit_price": products[sku].price.as_json(),
            "line_total": products[sku].price.times(qty).as_json(),
            "product": products[sku].model_dump(mode="json"),
        }
        for sku, qty in lines
    ]
    total = {"amount": sum(i["line_total"]["amount"] for i in items), "currency": "USD"}
    email = email or f"cust-{uuid.uuid4().hex[:8]}@example.com"
    created = now_iso()
    order_id = f"ord_test{uuid.uuid4().hex[:16]}"
    order = {
        "order_id": order_id,
        "status": "pending_payment",
        "created_at": created,
        "updated_at": created,
        "email": email,
        "email_lc": email.lower(),
        "items": items,
        "currency": "USD",
        "amount_subtotal": total,
        "shipping": None,
        "amount_total": total,
        "destination": dest.as_json() if dest else None,
        "eligibility_at_checkout": decision,
        "eligibility_at_payment": None,
        "ruleset_version": engine.version,
        "stripe_session_id": f"cs_test_{uuid.uuid4().hex[:12]}",
        "checkout_url": "http://127.0.0.1:12111/pay",
        "stock_lines": [],
        "events": [{"at": created, "type": "checkout_created", "detail": {"eligible": True}}],
    }
    repo = order_repository()
    created_order = repo.create_with_reservation(order_from_record(order))
    if paid:
        repo.transition(
            created_order,
            "paid",
            event=OrderEvent("checkout.session.completed", {"payment_status": "paid"}),
            updated=replace(
                created_order, eligibility_at_payment=decision, payment_intent_id="pi_test_1"
            ),
        )
    stored = repo.get(order_id)
    assert stored is not None
    return order_to_record(stored)


@pytest.fixture(scope="module")
def support() -> str:
    return staff_token("support", username="sam-support")


@pytest.fixture(scope="module")
def ops() -> str:
    return staff_token("ops", username="olga-ops")


# ------------------------------------------------------------------ GET /support/orders/{id}


def test_paid_order_shows_eligibility_three_ways_and_what_changed(api: Http, support: str) -> None:
    order = store_order([("TRUEOSTEO-120", 2)], {"country": "ca"}, decided_at=BEFORE_NPN)

    response = api.get(f"/support/orders/{order['order_id']}", token=support)

    assert response.status == 200, response.body
    body = response.json()
    assert body["order_id"] == order["order_id"]
    assert body["status"] == "paid"
    assert body["email"] == order["email"]
    assert body["amount_total"] == {"amount": 9990, "currency": "USD"}
    assert body["destination"] == {"country": "CA"}
    assert body["stripe_session_id"] == order["stripe_session_id"]
    assert body["items"][0]["sku"] == "TRUEOSTEO-120" and body["items"][0]["quantity"] == 2
    assert [e["type"] for e in body["events"]] == ["checkout_created", "checkout.session.completed"]
    eligibility = body["eligibility"]
    assert eligibility["at_checkout"]["eligible"] is True
    assert eligibility["at_checkout"]["evaluated_at"].startswith("2013-01-15")
    assert eligibility["at_payment"]["eligible"] is True
    assert eligibility["now"]["eligible"] is False
    assert eligibility["now"]["items"][0]["reasons"][0]["rule_id"] == "ca-no-supplements-npn"
    assert eligibility["now_differs"] is True
    assert eligibility["changed_by"] == ["ca-no-supplements-npn"]
    assert eligibility["compared_with"] == "at_payment"
    # Each is a Decision as POST /eligibility answers it: every line has its max_quantity
    # (null here: no limit), stored or decided now.
    for name in ("at_checkout", "at_payment", "now"):
        assert [line["max_quantity"] for line in eligibility[name]["items"]] == [None], name


def test_order_that_still_ships_does_not_differ(api: Http, support: str) -> None:
    order = store_order([("BONE-APPETIT-BOOK", 1)], {"country": "US", "subdivision": "NY"})
    body = api.get(f"/support/orders/{order['order_id']}", token=support).json()
    assert body["eligibility"]["now"]["eligible"] is True
    assert body["eligibility"]["now_differs"] is False
    assert body["eligibility"]["changed_by"] == []


def test_pending_order_has_no_payment_decision(api: Http, ops: str) -> None:
    order = store_order([("DENSERCISE-DVD", 1)], {"country": "GB"}, paid=False)
    body = api.get(f"/support/orders/{order['order_id']}", token=ops).json()
    assert body["status"] == "pending_payment"
    assert body["eligibility"]["at_payment"] is None
    assert body["eligibility"]["compared_with"] == "at_checkout"


def test_unknown_order_is_404_order_not_found(api: Http, support: str) -> None:
    assert_error(api.get("/support/orders/ord_nope", token=support), 404, "order_not_found")
    assert_error(api.get("/support/orders/" + "x" * 300, token=support), 404, "order_not_found")


def test_every_order_read_is_audited_with_the_staff_identity(
    api: Http, support: str, caplog: pytest.LogCaptureFixture
) -> None:
    order = store_order([("ORP-EBOOK", 1)], {"country": "US"}, email="Audit.Me@Example.com")
    with caplog.at_level(logging.INFO, logger="bonestore.audit"):
        assert api.get(f"/support/orders/{order['order_id']}", token=support).status == 200
        assert api.get("/support/orders?email=audit.me@example.com", token=support).status == 200
    records = [r for r in caplog.records if r.name == "bonestore.audit"]
    read = next(r for r in records if getattr(r, "action", None) == "support.order.read")
    assert read.audit is True
    assert read.actor["username"] == "sam-support"
    assert read.order_ids == [order["order_id"]]
    search = next(r for r in records if getattr(r, "action", None) == "support.orders.search")
    assert search.order_ids == [order["order_id"]]
    assert search.query == {"email": "a***@e***.com"}
    for record in records:
        text = record.getMessage() + repr(record.__dict__)
        assert "audit.me@example.com" not in text.lower()


# ------------------------------------------------------------------ GET /support/orders?email=


def test_orders_by_email_case_insensitive_newest_first_and_paginated(
    api: Http, support: str
) -> None:
    email = f"Pat.{uuid.uuid4().hex[:6]}@Example.com"
    ids = [
        store_order([("ORP-EBOOK", 1)], {"country": "US"}, email=email)["order_id"]
        for _ in range(3)
    ]
    first = api.get(f"/support/orders?email={email.upper()}&limit=2", token=support)
    assert first.status == 200, first.body
    page = first.json()
    assert [o["order_id"] for o in page["items"]] == ids[::-1][:2]
    assert set(page["items"][0]) == {"order_id", "status", "email", "created_at", "amount_total"}
    assert page["items"][0]["amount_total"] == {"amount": 9700, "currency": "USD"}
    assert page["next_token"]
    second = api.get(
        f"/support/orders?email={email.lower()}&limit=2&next_token={page['next_token']}",
        token=support,
    ).json()
    assert [o["order_id"] for o in second["items"]] == [ids[0]]
    assert "next_token" not in second


def test_unknown_email_is_an_empty_list(api: Http, support: str) -> None:
    assert api.get("/support/orders?email=nobody@example.com", token=support).json() == {
        "items": []
    }


@pytest.mark.parametrize(
    "query", ["", "?email=", "?email=not-an-email", "?limit=5", "?email=a@b.c&limit=0"]
)
def test_missing_or_invalid_email_is_400(api: Http, support: str, query: str) -> None:
    error = assert_error(api.get(f"/support/orders{query}", token=support), 400)
    assert error["code"] in ("invalid_email", "invalid_request")


def test_bad_next_token_is_400(api: Http, support: str) -> None:
    assert_error(
        api.get("/support/orders?email=a@b.co&next_token=%21%21", token=support),
        400,
        "invalid_next_token",
    )


# ------------------------------------------------------------------ POST /support/eligibility


def test_eligibility_with_trace(api: Http, support: str) -> None:
    response = api.post(
        "/support/eligibility",
        {
            "destination": {"country": "ca", "postal_code": "h2x1y4"},
            "items": [{"sku": "trueosteo-120", "quantity": 1}, {"sku": "ORP-EBOOK", "quantity": 1}],
        },
        token=support,
    )
    assert response.status == 200, response.body
    body = response.json()
    assert body["eligible"] is False
    assert body["destination"] == {"country": "CA", "postal_code": "H2X 1Y4"}
    assert set(body) >= {
        "eligible",
        "ruleset_version",
        "evaluated_at",
        "destination",
        "items",
        "shipping_methods",
        "trace",
    }
    supplement, ebook = body["trace"]
    assert supplement["sku"] == "TRUEOSTEO-120" and supplement["eligible"] is False
    results = {step["rule_id"]: step for step in supplement["rules"]}
    assert results["ca-no-supplements-npn"]["result"] == "match"
    assert results["ca-no-supplements-npn"]["effect"] == "forbid"
    assert ebook["eligible"] is True


def test_eligibility_at_a_past_time_shows_the_rule_inactive(api: Http, support: str) -> None:
    body = api.post(
        "/support/eligibility",
        {
            "destination": {"country": "CA"},
            "items": [{"sku": "TRUEOSTEO-120", "quantity": 1}],
            "at": "2013-01-15T00:00:00Z",
        },
        token=support,
    ).json()
    assert body["eligible"] is True
    npn = next(s for s in body["trace"][0]["rules"] if s["rule_id"] == "ca-no-supplements-npn")
    assert npn["result"] == "inactive"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"destination": {"country": "CA"}, "items": [{"sku": "NOPE-1", "quantity": 1}]}, "unknown_sku"),
        ({"destination": {"country": "ZZ"}, "items": [{"sku": "ORP-EBOOK", "quantity": 1}]}, "invalid_country"),
        ({"destination": {"country": "CA"}, "items": [{"sku": "ORP-EBOOK", "quantity": 0}]}, "invalid_quantity"),
        ({"destination": {"country": "CA"}, "items": []}, "invalid_items"),
        ({"items": [{"sku": "ORP-EBOOK", "quantity": 1}]}, None),
        ({"destination": {"country": "CA"}, "items": [{"sku": "ORP-EBOOK", "quantity": 1}], "at": "soon"}, "invalid_time"),
        ({"destination": {"country": "CA"}, "items": [{"sku": "ORP-EBOOK", "quantity": 1}], "at": "0001-01-01T00:00:00+01:00"}, "invalid_time"),
    ],
)  # fmt: skip
def test_bad_eligibility_requests_are_400(
    api: Http, support: str, body: dict[str, Any], code: str | None
) -> None:
    assert_error(api.post("/support/eligibility", body, token=support), 400, code)


def test_eligibility_without_a_body_is_400(api: Http, support: str) -> None:
    assert_error(api.post("/support/eligibility", token=support), 400)
    assert_error(api.request("POST", "/support/eligibility", raw=b"{not json", token=support), 400)
