"""The business metrics each invocation publishes, read from what it prints: CloudWatch
embedded metric format (EMF) documents, as the Lambda runtime hands them to CloudWatch.

Through ``lambda_handler`` with the API Gateway fixtures: a checkout created and one
refused, a webhook that pays, one that holds, one with a bad signature. Totals carry
only the ``service`` dimension (the alarms and the dashboard name exactly that);
breakdowns are separate names with one more dimension.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
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

NAMESPACE = "Bonestore/handler-tests"
SERVICE = {"service": "bonestore"}
Emitted = tuple[str, dict[str, str], float]


@pytest.fixture(autouse=True)
def _stack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What template.yaml's Globals set for every function."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bonestore")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def emitted(printed: str) -> list[Emitted]:
    """(metric, dimensions, value) for each metric of each EMF document printed."""
    return sorted(_metrics_of(printed), key=lambda m: (m[0], sorted(m[1].items())))


def _metrics_of(printed: str) -> Iterator[Emitted]:
    for line in printed.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            (dimension_set,) = directive["Dimensions"]
            dimensions = {name: document[name] for name in dimension_set}
            for metric in directive["Metrics"]:
                assert metric["Unit"] == "Count"
                values = document[metric["Name"]]
                yield (
                    metric["Name"],
                    dimensions,
                    sum(values) if isinstance(values, list) else values,
                )


def checkout_body(**changes: Any) -> dict[str, Any]:
    cart: dict[str, Any] = body_of(api_event("checkout-post.json"))
    return {**cart, **changes}


def test_a_created_checkout_publishes_checkout_created_only(
    invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    response = invoke("checkout", api_event("checkout-post.json"))
    assert response["statusCode"] == 201, response["body"]
    assert emitted(capsys.readouterr().out) == [("CheckoutCreated", SERVICE, 1)]
    # The client retries with the same Idempotency-Key: the same answer, no new checkout.
    assert invoke("checkout", api_event("checkout-post.json"))["statusCode"] == 201
    assert emitted(capsys.readouterr().out) == []


def test_a_refused_checkout_publishes_the_failure_its_code_and_the_rule(
    invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    berlin = {"name": "Jana Roth", "line1": "Hauptstr. 1", "city": "Berlin",
              "postal_code": "10115", "country": "DE"}  # fmt: skip
    cart = checkout_body(items=[{"sku": "RESTWELL-60", "quantity": 1}], shipping_address=berlin)
    response = invoke("checkout", api_event("checkout-post.json", body=cart))
    assert response["statusCode"] == 422
    assert emitted(capsys.readouterr().out) == [
        ("CheckoutFailed", SERVICE, 1),
        ("CheckoutFailedByCode", {**SERVICE, "code": "not_shippable"}, 1),
        ("CheckoutRefusedByRule", {**SERVICE, "rule_id": "no-melatonin-dhea"}, 1),
    ]


def test_a_request_refused_before_the_use_case_still_counts_as_a_failed_checkout(
    invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    response = invoke("checkout", api_event("checkout-post.json", body={"items": "lots"}))
    assert response["statusCode"] == 400
    code = body_of(response)["error"]["code"]
    assert emitted(capsys.readouterr().out) == [
        ("CheckoutFailed", SERVICE, 1),
        ("CheckoutFailedByCode", {**SERVICE, "code": code}, 1),
    ]


def completed(order_id: str, session_id: str, amount: int, *, billed_in: str = "US") -> bytes:
    address = {"line1": "1 Main St", "city": "Town", "postal_code": "62701", "country": billed_in}
    session = {
        "id": session_id, "object": "checkout.session", "client_reference_id": order_id,
        "metadata": {"order_id": order_id}, "amount_subtotal": amount, "amount_total": amount,
        "currency": "usd", "payment_status": "paid", "payment_intent": "pi_1",
        "customer_details": {"email": "jane@example.com", "address": address},
    }  # fmt: skip
    event = {"id": f"evt_{order_id}", "object": "event", "type": "checkout.session.completed",
             "created": int(time.time()), "data": {"object": session}}  # fmt: skip
    return json.dumps(event).encode()


def pay(invoke: Invoke, fakes: Fakes, *, billed_in: str = "US", **signature: Any) -> dict[str, Any]:
    created = open_order(invoke)  # a digital order: the billing country decides it
    order = fakes.orders.get(created["order_id"])
    assert order is not None
    payload = completed(
        order.order_id, created["stripe_session_id"], order.amount_subtotal.amount,
        billed_in=billed_in,
    )  # fmt: skip
    headers = {"Stripe-Signature": stripe_signature(payload, **signature)}
    event = api_event("webhook-stripe-post.json", body=payload.decode(), headers=headers)
    return invoke("webhook", event)


def test_a_paid_order_publishes_orders_paid(
    invoke: Invoke, fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    response = pay(invoke, fakes)
    assert response["statusCode"] == 200 and body_of(response)["status"] == "paid"
    printed = emitted(capsys.readouterr().out)
    assert printed == [("CheckoutCreated", SERVICE, 1), ("OrdersPaid", SERVICE, 1)]


def test_a_held_order_publishes_orders_held_and_the_refusing_rule(
    invoke: Invoke, fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    response = pay(invoke, fakes, billed_in="CU")
    assert response["statusCode"] == 200 and body_of(response)["status"] == "held"
    assert emitted(capsys.readouterr().out) == [
        ("CheckoutCreated", SERVICE, 1),
        ("OrdersHeld", SERVICE, 1),
        ("OrdersHeldByRule", {**SERVICE, "rule_id": "embargo-cuba"}, 1),
    ]


def test_a_bad_signature_publishes_a_webhook_failure_by_its_code(
    invoke: Invoke, fakes: Fakes, capsys: pytest.CaptureFixture[str]
) -> None:
    response = pay(invoke, fakes, secret="whsec_someone_else")
    assert response["statusCode"] == 400
    assert emitted(capsys.readouterr().out) == [
        ("CheckoutCreated", SERVICE, 1),
        ("WebhookFailures", SERVICE, 1),
        ("WebhookFailuresByCode", {**SERVICE, "code": "invalid_signature"}, 1),
    ]


def test_an_invocation_that_counts_nothing_prints_no_metrics_and_does_not_raise(
    invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    event = api_event("webhook-stripe-post.json", body=json.dumps({"no": "event"}))
    event["headers"]["Stripe-Signature"] = stripe_signature(event["body"].encode())
    response = invoke("webhook", event)
    assert response["statusCode"] == 200
    out = capsys.readouterr()
    assert emitted(out.out) == [] and "No application metrics" not in out.err
