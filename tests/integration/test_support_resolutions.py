"""Held orders over HTTP: the queue, release (refused while the rules refuse, allowed once
the rule is gone), refund through the Stripe emulator once under concurrent retries, and
the audit trail. Orders are made by real checkouts completed in the emulator."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bonestore.api.deps import override, rules_engine
from bonestore_infra.bench_checkout import US_ADDRESS, Shop
from bonestore_infra.local_stack import LocalStack
from tests.helpers import Http, assert_error, eventually
from tests.staff_tokens import staff_token
from tests.unit.test_resolutions import engine_without

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
REPO = Path(__file__).resolve().parents[2]
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


def _wait_for_event(shop: Shop, order_id: str, event_type: str) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: next((e for e in shop.order(order_id)["events"] if e["type"] == event_type), None),
        what=f"{order_id}: {event_type}",
    )
    return found


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


def test_staff_refunding_one_order_at_once_all_get_the_one_refund(
    api: Http, shop: Shop, support: str
) -> None:
    """ "refunded through Stripe (once, whatever the retries)": two support agents and an
    ops engineer at once. Each asks Stripe with the order's one key; had the requests
    differed (who, why), Stripe would refuse the later ones (idempotency_error: a 502)."""
    order_id = held_order(shop)
    tokens = [support, staff_token("support", username="kim-support"), staff_token("ops")] * 2

    def refund(token: str) -> Any:
        return api.post(f"/support/orders/{order_id}/refund", {"reason": "embargoed"}, token=token)

    with ThreadPoolExecutor(len(tokens)) as pool:
        answers = list(pool.map(refund, tokens))
    assert [a.status for a in answers] == [200] * len(tokens), [a.body for a in answers]
    stored = shop.order(order_id)
    refunds = [
        record["event"]["data"]["object"]
        for record in shop.events("refund.created")
        if record["event"]["data"]["object"].get("payment_intent") == stored["payment_intent_id"]
    ]
    assert [refund["id"] for refund in refunds] == [stored["refund_id"]]
    assert refunds[0]["metadata"] == {"order_id": order_id}


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
    # The rule stays gone while fulfilment (the stack's FulfilmentQueue poller) re-checks
    # the released order: with the embargo back it would rightly hold it again.
    with override(rules_engine, lambda: engine_without("embargo-cuba")):
        response = api.post(
            f"/support/orders/{order_id}/release", {"reason": "embargo lifted"}, token=support
        )
        assert response.status == 200, response.body
        assert response.json()["status"] == "paid"
        stored = shop.order(order_id)
        assert stored["status"] == "paid" and stored.get("order_paid_published_at")
        assert (shop.product(sku)["stock"], shop.product(sku)["reserved"]) == (4, 0)
        handed_over = _wait_for_event(shop, order_id, "handed_to_warehouse")
        assert handed_over["detail"]["ruleset_version"] == engine_without("embargo-cuba").version
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


# -- fulfilment and shipments ------------------------------------------------------------


def _fulfilment_function() -> Any:
    from bonestore_infra.lambda_runtime import import_handler_module

    return import_handler_module("app", REPO / "functions" / "fulfilment" / "app.py")


def _deliver(order_ids: list[str]) -> dict[str, Any]:
    """What SQS hands the function for OrderPaid events (the EventBridge event as body)."""
    from aws_lambda_powertools.utilities.typing import LambdaContext

    records = [
        {
            "messageId": f"m-{index}",
            "receiptHandle": "r",
            "body": json.dumps({"detail-type": "OrderPaid", "detail": {"order_id": order_id}}),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fulfilment",
            "awsRegion": "us-east-1",
        }
        for index, order_id in enumerate(order_ids)
    ]
    context = cast(LambdaContext, SimpleNamespace(
        function_name="FulfilmentFunction", memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:FulfilmentFunction",
        aws_request_id="req-1",
    ))  # fmt: skip
    return _fulfilment_function().lambda_handler({"Records": records}, context)  # type: ignore[no-any-return]


def test_a_message_naming_no_order_is_dropped_not_retried() -> None:
    assert _deliver(["ord_does_not_exist"]) == {"batchItemFailures": []}


@pytest.mark.parametrize(("group", "status"), [("support", 403), ("customer", 403), (None, 401)])
def test_only_ops_and_the_warehouse_record_shipments(
    api: Http, group: str | None, status: int
) -> None:
    token = staff_token(group) if group else None
    body = {"carrier": "UPS", "tracking_number": "1Z999"}
    assert_error(api.post("/admin/orders/ord_x/shipments", body, token=token), status)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"carrier": "UPS"},
        {"carrier": "", "tracking_number": "1Z9"},
        {"carrier": "UPS", "tracking_number": "<script>"},
    ],
)
def test_bad_shipments_are_400(api: Http, body: dict[str, Any]) -> None:
    token = staff_token("ops")
    assert_error(api.post("/admin/orders/ord_x/shipments", body, token=token), 400)
