"""Every log line of a request carries its correlation id (the API request id) and,
from the moment the order exists, the order id: through ``lambda_handler``, reading
what the ``bonestore`` logger's handler writes (the use case's lines, the adapters',
the resolver's "unhandled error" included)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import fresh_function_module
from tests.unit.handlers.conftest import (
    FakeLambdaContext,
    Fakes,
    api_event,
    body_of,
    stripe_signature,
)
from tests.unit.test_correlation_id import LambdaJsonFormatter

pytestmark = pytest.mark.unit


Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture
def invoke(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """The functions as template.yaml configures them, each a fresh import (a cold start)."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bonestore")
    modules = {
        name: fresh_function_module(name, "log_correlation") for name in ("checkout", "webhook")
    }
    return lambda name, event: modules[name].lambda_handler(event, FakeLambdaContext())  # type: ignore[no-any-return]


@pytest.fixture
def written(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What Lambda's own handler on the root logger writes (its JSON log format), at the
    INFO level the template sets."""
    stream = io.StringIO()
    lambda_handler = logging.StreamHandler(stream)
    lambda_handler.setFormatter(LambdaJsonFormatter())
    root = logging.getLogger()
    root.addHandler(lambda_handler)
    monkeypatch.setattr(logging.getLogger("bonestore"), "level", logging.INFO)
    yield stream
    root.removeHandler(lambda_handler)


def open_order(invoke: Invoke) -> dict[str, Any]:
    cart = body_of(api_event("checkout-post.json"))
    cart["items"] = [{"sku": "ORP-EBOOK", "quantity": 1}]
    created = invoke("checkout", api_event("checkout-post.json", body=cart))
    assert created["statusCode"] == 201, created["body"]
    return body_of(created)  # type: ignore[no-any-return]


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    found = []
    for line in stream.getvalue().splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "message" in parsed:
            found.append(parsed)
    return found


def test_a_checkout_names_its_order_from_the_moment_it_exists(
    invoke: Invoke, fakes: Fakes, written: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bonestore.service import checkout

    real_load = checkout.load_products

    def load_and_log(*args: Any) -> Any:
        logging.getLogger("bonestore.service.carts").info("loading the cart's products")
        return real_load(*args)

    monkeypatch.setattr(checkout, "load_products", load_and_log)
    fakes.gateway.fail = RuntimeError("Stripe is down")
    event = api_event("checkout-post.json")
    response = invoke("checkout", event)
    assert response["statusCode"] == 500
    (order_id,) = fakes.orders.items
    logged = lines(written)
    request_id = event["requestContext"]["requestId"]
    assert {line.get("correlation_id") for line in logged} == {request_id}
    before, *after = logged
    assert before["message"] == "loading the cart's products" and "order_id" not in before
    # The lean router's line for the request (method, route, status) names it too.
    assert [line["message"] for line in after] == ["unhandled error", "POST /checkout -> 500"]
    assert {line.get("order_id") for line in after} == {order_id}


def test_the_next_request_on_the_warm_instance_does_not_inherit_the_order_id(
    invoke: Invoke, fakes: Fakes, written: io.StringIO
) -> None:
    created = open_order(invoke)
    first = [line for line in lines(written) if line["message"] == "checkout created"]
    assert [line.get("order_id") for line in first] == [created["order_id"]]
    written.truncate(0), written.seek(0)
    event = api_event("webhook-stripe-post.json", body=json.dumps({"no": "event"}))
    event["headers"]["Stripe-Signature"] = stripe_signature(event["body"].encode())
    assert invoke("webhook", event)["statusCode"] == 200
    logged = lines(written)
    assert logged and all("order_id" not in line for line in logged), logged


def test_a_webhook_names_the_order_once_it_has_read_it(
    invoke: Invoke, fakes: Fakes, written: io.StringIO
) -> None:
    created = open_order(invoke)
    order_id = created["order_id"]
    written.truncate(0), written.seek(0)
    session = {"id": created["stripe_session_id"], "object": "checkout.session",
               "metadata": {"order_id": order_id}}  # fmt: skip
    payload = json.dumps({"id": "evt_exp", "object": "event", "type": "checkout.session.expired",
                          "data": {"object": session}}).encode()  # fmt: skip
    event = api_event(
        "webhook-stripe-post.json",
        body=payload.decode(),
        headers={"Stripe-Signature": stripe_signature(payload)},
    )
    response = invoke("webhook", event)
    assert response["statusCode"] == 200, response["body"]
    logged = lines(written)
    assert {line.get("correlation_id") for line in logged} == {event["requestContext"]["requestId"]}
    handled = [line for line in logged if line["message"] == "stripe event handled"]
    assert [line.get("order_id") for line in handled] == [order_id]
    assert fakes.orders.get(order_id).status == "expired"  # type: ignore[union-attr]
