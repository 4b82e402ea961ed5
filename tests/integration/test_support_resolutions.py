"""Held orders over HTTP: the queue, release (refused while the rules refuse, allowed once
the rule is gone), refund through the Stripe emulator once under concurrent retries, and
the audit trail. Orders are made by real checkouts completed in the emulator."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bonestore.api.deps import override, rules_engine
from bonestore_infra.bench_checkout import US_ADDRESS, Shop
from bonestore_infra.local_stack import LocalStack
from tests.helpers import Http, assert_error
from tests.integration.test_support_api import staff_token
from tests.unit.test_resolutions import engine_without

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
HAVANA = {"address": {"line1": "Calle 1", "city": "Havana", "country": "CU"}}


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


@pytest.fixture(scope="module")
def support() -> str:
    return staff_token("support", username="sam-support")


def held_order(shop: Shop, sku: str = "BONE-APPETIT-BOOK") -> str:
    """A book shipped to the US but billed in Cuba: held by the embargo at payment."""
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 201, body
    done, _ = shop.complete(
        body["stripe_session_id"], shipping_details=US_ADDRESS, customer_details=HAVANA
    )
    assert done == 200
    assert shop.order(body["order_id"])["status"] == "held"
    return str(body["order_id"])


def audit_lines(caplog: pytest.LogCaptureFixture, action: str) -> list[Any]:
    return [
        r
        for r in caplog.records
        if r.name == "bonestore.audit" and getattr(r, "action", None) == action
    ]


def test_held_queue_is_oldest_first_and_paged(api: Http, shop: Shop, support: str) -> None:
    first, second = held_order(shop), held_order(shop)
    seen: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        query = "/support/orders?status=held&limit=2" + (f"&next_token={token}" if token else "")
        response = api.get(query, token=support)
        assert response.status == 200, response.body
        page = response.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        token = page.get("next_token")
        if not token:
            break
    ids = [item["order_id"] for item in seen]
    assert ids.index(first) < ids.index(second)
    assert {item["status"] for item in seen} == {"held"}
    assert [item["created_at"] for item in seen] == sorted(item["created_at"] for item in seen)


@pytest.mark.parametrize("query", ["?status=lost", "?status=held&email=a@b.co", ""])
def test_bad_queue_queries_are_400(api: Http, support: str, query: str) -> None:
    assert_error(api.get(f"/support/orders{query}", token=support), 400)


def test_held_order_shows_why_with_the_rules_source(api: Http, shop: Shop, support: str) -> None:
    order_id = held_order(shop)
    body = api.get(f"/support/orders/{order_id}", token=support).json()
    assert body["billing_country"] == "CU"
    assert body["shipping_address"]["line1"] == US_ADDRESS["address"]["line1"]
    assert body["destination"]["country"] == "US"
    [reason] = body["hold"]["reasons"]
    assert reason["rule_id"] == "embargo-cuba" and reason["message"]
    assert "31 CFR part 515" in reason["source"]
    assert body["eligibility"]["now"]["eligible"] is False


def test_release_of_an_embargoed_order_is_refused_with_the_reasons_then_refunded_once(
    api: Http, shop: Shop, support: str, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = held_order(shop)
    with caplog.at_level(logging.INFO, logger="bonestore.audit"):
        refused = api.post(
            f"/support/orders/{order_id}/release", {"reason": "customer says fine"}, token=support
        )
        error = assert_error(refused, 409, "still_not_shippable")
        assert {d["rule_id"] for d in error["details"]} == {"embargo-cuba"}
        assert shop.order(order_id)["status"] == "held"

        def refund() -> Any:
            return api.post(
                f"/support/orders/{order_id}/refund", {"reason": "embargoed"}, token=support
            )

        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: refund(), range(5)))
    assert [a.status for a in answers] == [200] * 5, [a.body for a in answers]
    assert {a.json()["status"] for a in answers} == {"refunded"}
    stored = shop.order(order_id)
    assert stored["status"] == "refunded"
    done = [
        e
        for e in stored["events"]
        if e["type"] == "refunded_by_support" and "ignored" not in e["detail"]
    ]
    assert len(done) == 1 and done[0]["detail"]["by"] == "sam-support"
    refunds = [
        record["event"]["data"]["object"]
        for record in shop.events("refund.created")
        if record["event"]["data"]["object"].get("payment_intent") == stored["payment_intent_id"]
    ]
    assert [refund["id"] for refund in refunds] == [stored["refund_id"]]  # Stripe refunded once
    [release_line] = audit_lines(caplog, "support.order.release")
    assert release_line.outcome == "still_not_shippable"
    assert release_line.reason == "customer says fine"
    assert release_line.actor["username"] == "sam-support"
    assert {r.outcome for r in audit_lines(caplog, "support.order.refund")} == {"ok"}


def test_release_once_the_rule_is_gone_pays_and_commits_stock(
    api: Http, shop: Shop, support: str
) -> None:
    sku = shop.clone("BONE-APPETIT-BOOK", 5)
    order_id = held_order(shop, sku)
    assert (shop.product(sku)["stock"], shop.product(sku)["reserved"]) == (4, 1)
    with override(rules_engine, lambda: engine_without("embargo-cuba")):
        response = api.post(
            f"/support/orders/{order_id}/release", {"reason": "embargo lifted"}, token=support
        )
    assert response.status == 200, response.body
    assert response.json()["status"] == "paid"
    stored = shop.order(order_id)
    assert stored["status"] == "paid" and stored.get("order_paid_published_at")
    assert (shop.product(sku)["stock"], shop.product(sku)["reserved"]) == (4, 0)
    again = api.post(f"/support/orders/{order_id}/release", {"reason": "twice"}, token=support)
    assert_error(again, 409, "invalid_transition")


@pytest.mark.parametrize(
    "body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {"reason": 5}]
)
def test_a_reason_is_required(api: Http, shop: Shop, support: str, body: dict[str, Any]) -> None:
    assert_error(api.post("/support/orders/ord_x/refund", body, token=support), 400)


def test_unknown_order_is_404(api: Http, support: str) -> None:
    for move in ("release", "refund"):
        assert_error(
            api.post(f"/support/orders/ord_nope/{move}", {"reason": "x"}, token=support),
            404,
            "order_not_found",
        )
