"""The Stripe webhook's ``lambda_handler`` with API Gateway events signed as Stripe signs
them, over the in-memory order store (an order made by the checkout handler)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from tests.unit.handlers.conftest import (
    Fakes,
    Invoke,
    api_event,
    body_of,
    open_order,
    stripe_signature,
)

pytestmark = pytest.mark.unit

US = {"line1": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}  # fmt: skip


def signed_event(payload: bytes, **signature: Any) -> dict[str, Any]:
    return api_event(
        "webhook-stripe-post.json",
        body=payload.decode(),
        headers={"Stripe-Signature": stripe_signature(payload, **signature)},
    )


def completed(order_id: str, session_id: str, amount: int, event_id: str = "evt_1") -> bytes:
    session = {
        "id": session_id,
        "object": "checkout.session",
        "client_reference_id": order_id,
        "metadata": {"order_id": order_id},
        "amount_subtotal": amount,
        "amount_total": amount,
        "currency": "usd",
        "payment_status": "paid",
        "payment_intent": "pi_1",
        "customer_details": {"email": "jane@example.com", "address": US},
    }
    event = {"id": event_id, "object": "event", "type": "checkout.session.completed",
             "created": int(time.time()), "data": {"object": session}}  # fmt: skip
    return json.dumps(event).encode()


def test_signed_completed_session_pays_the_order(invoke: Invoke, fakes: Fakes) -> None:
    created = open_order(invoke)
    order = fakes.orders.get(created["order_id"])
    assert order is not None and order.status == "pending_payment"
    payload = completed(order.order_id, created["stripe_session_id"], order.amount_subtotal.amount)
    response = invoke("webhook", signed_event(payload))
    assert response["statusCode"] == 200, response["body"]
    paid = fakes.orders.get(order.order_id)
    assert paid is not None and paid.status == "paid"
    assert fakes.publisher.paid == [order.order_id]
    again = invoke("webhook", signed_event(payload))  # Stripe redelivers: harmless
    assert again["statusCode"] == 200
    assert fakes.publisher.paid == [order.order_id]


def test_a_base64_body_is_verified_on_its_bytes(invoke: Invoke, fakes: Fakes) -> None:
    created = open_order(invoke)
    order = fakes.orders.get(created["order_id"])
    assert order is not None
    payload = completed(order.order_id, created["stripe_session_id"], order.amount_subtotal.amount)
    event = signed_event(payload)
    event["body"], event["isBase64Encoded"] = base64.b64encode(payload).decode(), True
    assert invoke("webhook", event)["statusCode"] == 200
    assert fakes.orders.get(order.order_id).status == "paid"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "signature",
    [
        {"secret": "whsec_someone_else"},
        {"at": int(time.time()) - 3600},
    ],
    ids=["wrong-secret", "too-old"],
)
def test_bad_signature_is_400_and_nothing_moves(
    invoke: Invoke, fakes: Fakes, signature: dict[str, Any]
) -> None:
    created = open_order(invoke)
    order = fakes.orders.get(created["order_id"])
    assert order is not None
    payload = completed(order.order_id, created["stripe_session_id"], order.amount_subtotal.amount)
    response = invoke("webhook", signed_event(payload, **signature))
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_signature"
    assert fakes.orders.get(order.order_id).status == "pending_payment"  # type: ignore[union-attr]


def test_missing_signature_is_400(invoke: Invoke) -> None:
    event = api_event("webhook-stripe-post.json", headers={"Stripe-Signature": None})
    response = invoke("webhook", event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_signature"


def test_a_body_changed_after_signing_is_400(invoke: Invoke) -> None:
    payload = completed("ord_x", "cs_x", 100)
    event = signed_event(payload)
    event["body"] = payload.decode().replace('"amount_total": 100', '"amount_total": 1')
    response = invoke("webhook", event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_signature"
