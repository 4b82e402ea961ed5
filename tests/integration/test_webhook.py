"""POST /webhooks/stripe over HTTP: signatures, real payloads, duplicates, replays and
events out of order, against the local stack (and the emulator's own deliveries)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import stripe

from bonestore_infra.bench_checkout import US_ADDRESS, Shop, http_json
from bonestore_infra.local_api import build_event
from bonestore_infra.local_stack import LocalStack
from tests.helpers import eventually

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[1] / "events" / "stripe"
US = {"country": "US"}


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    # One stack per test process (tests/conftest.py): stacks point the process's
    # environment at themselves, so a second one alongside would confuse the first.
    return Shop(local_stack)


def secret(shop: Shop) -> str:
    return shop.stack.config.webhook_secret


def post(shop: Shop, payload: bytes, signature: str | None) -> tuple[int, Any]:
    headers = {"Stripe-Signature": signature} if signature is not None else {}
    return http_json("POST", f"{shop.api}/webhooks/stripe", raw=payload, headers=headers)


def signed(shop: Shop, payload: bytes, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret(shop), timestamp
    )


def send(shop: Shop, event: dict[str, Any]) -> tuple[int, Any]:
    payload = json.dumps(event).encode()
    return post(shop, payload, signed(shop, payload))


def paid_order(shop: Shop, sku: str = "BONE-APPETIT-BOOK") -> dict[str, Any]:
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 201, body
    done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
    assert done == 200 and result["webhook"]["ok"], result
    # The webhook's answer is not the end of payment: fulfilment hands the order to the
    # warehouse through EventBridge and SQS afterwards. Wait for it, so that tests which
    # compare timelines see only what they caused.
    eventually(
        lambda: "handed_to_warehouse" in event_types(shop.order(body["order_id"])),
        what=f"the hand-over of {body['order_id']}",
    )
    return {**body, "session": result["session"]}


def event_types(order: dict[str, Any]) -> list[str]:
    return [e["type"] for e in order["events"]]


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.json")))
def test_real_payloads_are_accepted(shop: Shop, name: str) -> None:
    payload = (EVENTS / name).read_bytes()
    status, body = post(shop, payload, signed(shop, payload))
    assert status == 200, body
    assert body["received"] is True


@pytest.mark.parametrize("case", ["tampered", "stale", "missing", "wrong_secret", "garbage"])
def test_bad_signatures_are_400(shop: Shop, case: str) -> None:
    payload = (EVENTS / "checkout.session.completed.event.supabase.json").read_bytes()
    signature: str | None = signed(shop, payload)
    if case == "tampered":
        payload = payload.replace(b'"amount_total": 999', b'"amount_total": 1')
    elif case == "stale":
        signature = signed(shop, payload, int(time.time()) - 301)
    elif case == "missing":
        signature = None
    elif case == "wrong_secret":
        signature = stripe.WebhookSignature.generate_signature_header(payload.decode(), "whsec_x")
    else:
        signature = "t=1,v1=nothex"
    status, body = post(shop, payload, signature)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_signature"


def test_signed_non_json_is_400(shop: Shop) -> None:
    status, body = post(shop, b"not json", signed(shop, b"not json"))
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, body = post(shop, b"[1]", signed(shop, b"[1]"))
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_other_event_types_are_acknowledged(shop: Shop) -> None:
    status, body = send(shop, {"id": "evt_other_1", "type": "customer.created", "data": {"object": {}}})  # fmt: skip
    assert status == 200 and body["action"] == "ignored"


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "cs_g1", "metadata": "ord_x", "customer_details": "jane"},
        {"id": "cs_g2", "metadata": {"order_id": ["ord_x"]}, "client_reference_id": 5},
        {"id": "cs_g3", "collected_information": [], "shipping_cost": "free", "currency": 1},
        "a string",
    ],
)
def test_signed_garbage_in_a_handled_event_is_ignored_not_a_500(shop: Shop, obj: Any) -> None:
    event = {"id": f"evt_garbage_{uuid.uuid4().hex[:8]}", "type": "checkout.session.completed",
             "data": {"object": obj}}  # fmt: skip
    status, body = send(shop, event)
    assert status == 200 and body["action"] in ("ignored_no_order", "ignored_type"), body


@pytest.mark.parametrize(
    "refunds", ["re_1", ["re_1"], {"data": "x"}, {"data": [7, {"metadata": 1}]}]
)
def test_signed_refund_with_garbage_is_ignored_not_a_500(shop: Shop, refunds: Any) -> None:
    event = {"id": f"evt_garbage_{uuid.uuid4().hex[:8]}", "type": "charge.refunded",
             "data": {"object": {"id": "ch_g", "metadata": "x", "refunds": refunds}}}  # fmt: skip
    status, body = send(shop, event)
    assert status == 200 and body["action"] == "ignored_unknown_order", body


def test_duplicates_and_replays_change_nothing(shop: Shop) -> None:
    order = paid_order(shop)
    completed = [
        e["event"] for e in shop.events("checkout.session.completed")
        if e["event"]["data"]["object"]["id"] == order["stripe_session_id"]
    ]  # fmt: skip
    assert len(completed) == 1
    before = shop.order(order["order_id"])
    # Stripe redelivers the same event (new signature, same id) ...
    status, result = shop.resend(completed[0]["id"])
    assert status == 200 and result["webhook"]["ok"]
    # ... and someone replays the captured body with a fresh signature.
    status, body = send(shop, completed[0])
    assert status == 200 and body["status"] == "paid"
    after = shop.order(order["order_id"])
    assert after["status"] == "paid"
    assert after["events"] == before["events"]  # processed once: the timeline did not move
    assert after["stock_state"] == "committed"


def test_expiry_after_payment_is_recorded_not_applied(shop: Shop) -> None:
    order = paid_order(shop)
    stock_before = shop.product("BONE-APPETIT-BOOK")
    late = {
        "id": f"evt_late_{order['order_id']}",
        "type": "checkout.session.expired",
        "data": {"object": {**order["session"], "status": "expired"}},
    }
    status, body = send(shop, late)
    assert status == 200 and body["action"] == "recorded_only"
    after = shop.order(order["order_id"])
    assert after["status"] == "paid"
    assert after["events"][-1]["type"] == "checkout.session.expired"
    assert after["events"][-1]["detail"]["ignored"] is True
    assert shop.product("BONE-APPETIT-BOOK")["stock"] == stock_before["stock"]


def test_payment_after_expiry_does_not_resurrect_the_order(shop: Shop) -> None:
    sku = shop.clone("DENSERCISE-DVD", 2)
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 201
    _, expired = shop.expire(body["stripe_session_id"])
    session = expired["session"]
    assert shop.order(body["order_id"])["status"] == "expired"
    forged_late = {
        "id": f"evt_paid_late_{body['order_id']}",
        "type": "checkout.session.completed",
        "data": {"object": {**session, "status": "complete", "payment_status": "paid"}},
    }
    status, result = send(shop, forged_late)
    assert status == 200, result
    order = shop.order(body["order_id"])
    # This expired session names no payment to refund, so it stays for support; one
    # that does is refunded (tests/unit/test_payments.py). Either way, no revival.
    assert order["status"] == "expired"
    assert order["events"][-1]["detail"]["late_payment"] is True
    product = shop.product(sku)
    assert (product["stock"], product["reserved"]) == (2, 0)


def test_events_for_another_session_of_the_order_are_ignored(shop: Shop) -> None:
    order = paid_order(shop)
    other = {**order["session"], "id": "cs_test_someone_else"}
    status, body = send(shop, {"id": "evt_mismatch_1", "type": "checkout.session.expired", "data": {"object": other}})  # fmt: skip
    assert status == 200 and body["action"] == "ignored_session_mismatch"
    assert shop.order(order["order_id"])["status"] == "paid"


def test_refund_through_stripe_marks_the_order_refunded(shop: Shop) -> None:
    order = paid_order(shop)
    client = stripe.StripeClient("sk_test_bonestore", base_addresses={"api": shop.stripe})
    intent = shop.order(order["order_id"])["payment_intent_id"]
    client.v1.refunds.create(params={"payment_intent": intent})
    refunded = shop.wait_status(order["order_id"], "refunded")
    assert refunded["status"] == "refunded"
    assert "charge.refunded" in event_types(refunded)


def test_base64_encoded_body_from_api_gateway(shop: Shop) -> None:
    payload = (EVENTS / "charge.refunded.event.supabase.json").read_bytes()
    route, params, _ = shop.stack.api.match("POST", "/webhooks/stripe")
    assert route is not None
    event = build_event(
        route=route,
        method="POST",
        path="/webhooks/stripe",
        path_params=params,
        query="",
        headers={"Stripe-Signature": [signed(shop, payload)], "Content-Type": ["application/json"]},
        body=payload,
        stage="dev",
        source_ip="127.0.0.1",
        claims=None,
    )
    event["body"] = base64.b64encode(payload).decode()
    event["isBase64Encoded"] = True
    result = shop.stack.api.pools[route.function_id].invoke(event)
    assert result["statusCode"] == 200, result
    event["body"] = base64.b64encode(payload.replace(b"2500", b"2501")).decode()
    assert shop.stack.api.pools[route.function_id].invoke(event)["statusCode"] == 400
