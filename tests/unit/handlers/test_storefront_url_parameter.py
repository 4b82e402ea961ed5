"""In AWS the email links' storefront comes from the stack's SSM parameter, named by
``STOREFRONT_URL_PARAMETER``: read only when an email is sent, once
per warm instance (cached 5 minutes), and a parameter that cannot be read fails the
email (recorded on the order), never the webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bonestore.config import get_settings
from tests.unit.handlers.conftest import Fakes, Invoke, api_event, open_order, stripe_signature

pytestmark = pytest.mark.unit

NAME = "/bonestore-dev/storefront-url"
DISTRIBUTION = "https://d111111abcdef8.cloudfront.net"


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The SSM client over a stub: a read the test did not queue a response for fails
    the test. The cache starts empty, as in a new instance."""
    from bonestore.adapters import parameters
    from bonestore.adapters.cached_reads import AwsReads

    monkeypatch.setenv("STOREFRONT_URL_PARAMETER", NAME)
    monkeypatch.setenv("STOREFRONT_URL", "http://127.0.0.1:9")  # must not be used
    get_settings.cache_clear()
    client = boto3.client("ssm", region_name="us-east-1")
    stub = Stubber(client)
    monkeypatch.setattr(
        parameters, "_reads", AwsReads("ssm", parameters.MAX_AGE_SECONDS, client=client)
    )
    with stub:
        yield stub
    get_settings.cache_clear()


def _answers(stub: Stubber, value: str) -> None:
    stub.add_response(
        "get_parameter",
        {"Parameter": {"Name": NAME, "Type": "String", "Value": value}},
        {"Name": NAME},
    )


def _event(fakes: Fakes, order: dict[str, Any], kind: str) -> dict[str, Any]:
    stored = fakes.orders.get(order["order_id"])
    assert stored is not None
    amount = stored.amount_subtotal.amount
    session = {"id": order["stripe_session_id"], "object": "checkout.session",
               "metadata": {"order_id": order["order_id"]}, "amount_subtotal": amount,
               "amount_total": amount, "currency": "usd", "payment_status": "paid",
               "payment_intent": "pi_1", "customer_details": {"email": "jane@example.com",
               "address": {"line1": "1 Main St", "city": "Town", "postal_code": "62701",
                           "country": "US"}}}  # fmt: skip
    event = {"id": f"evt_{kind}_{order['order_id']}", "object": "event", "type": kind,
             "created": int(time.time()), "data": {"object": session}}  # fmt: skip
    payload = json.dumps(event).encode()
    return api_event(
        "webhook-stripe-post.json",
        body=payload.decode(),
        headers={"Stripe-Signature": stripe_signature(payload)},
    )


def test_read_at_the_first_email_then_cached(invoke: Invoke, fakes: Fakes, ssm: Stubber) -> None:
    expiring = open_order(invoke)
    # No email for an expired checkout: nothing is read (no response is queued).
    assert (
        invoke("webhook", _event(fakes, expiring, "checkout.session.expired"))["statusCode"] == 200
    )
    ssm.assert_no_pending_responses()
    _answers(ssm, DISTRIBUTION)
    for _ in range(2):  # two paid orders, two emails, one read
        order = open_order(invoke)
        paid = invoke("webhook", _event(fakes, order, "checkout.session.completed"))
        assert json.loads(paid["body"])["status"] == "paid"
    ssm.assert_no_pending_responses()
    assert len(fakes.emails.sent) == 2
    assert all(f"{DISTRIBUTION}/order#id=" in message.text for message in fakes.emails.sent)


def test_an_unreadable_parameter_fails_the_email_not_the_webhook(
    invoke: Invoke, fakes: Fakes, ssm: Stubber
) -> None:
    ssm.add_client_error("get_parameter", "ParameterNotFound", http_status_code=400)
    order = open_order(invoke)
    response = invoke("webhook", _event(fakes, order, "checkout.session.completed"))
    assert response["statusCode"] == 200
    stored = fakes.orders.get(order["order_id"])
    assert stored is not None and stored.status == "paid"
    assert fakes.emails.sent == []
    assert [e.detail["kind"] for e in stored.events if e.type == "email_failed"] == ["order_paid"]
