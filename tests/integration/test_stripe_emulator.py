"""The Stripe emulator driven by the real stripe SDK (StripeClient), over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import pytest
import stripe

from bonestore_infra import http_json
from bonestore_infra.stripe_emulator import StripeEmulator

pytestmark = pytest.mark.integration

SECRET = "whsec_test_emulator_secret"


# -- a tiny webhook receiver ----------------------------------------------------


class Receiver:
    """Records webhook POSTs; answers with queued statuses (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append(
                        {"body": body, "signature": self.headers.get("Stripe-Signature")}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self) -> list[stripe.Event]:
        with self.lock:
            requests = list(self.requests)
        return [
            stripe.Webhook.construct_event(r["body"].decode(), r["signature"], SECRET)
            for r in requests
        ]

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 5) -> list[stripe.Event]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events() if e.type == event_type]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {count} x {event_type} delivered; got {self.events()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def emu(receiver: Receiver) -> Iterator[StripeEmulator]:
    emulator = StripeEmulator(
        port=0, webhook_url=receiver.url, webhook_secret=SECRET, retry_delays=(0.1, 0.2, 0.4)
    )
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emu: StripeEmulator) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emu.url}, max_network_retries=0
    )


def session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 4995,
                    "product_data": {
                        "name": "Calcium + D3",
                        "description": "90 tablets",
                        "metadata": {"sku": "CAL-D3-90"},
                    },
                },
                "quantity": 2,
            },
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 1500,
                    "product_data": {"name": "Bone broth"},
                },
                "quantity": 1,
            },
        ],
        "success_url": "https://shop.test/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.test/cancel",
        "client_reference_id": "ord_123",
        "customer_email": "ada@example.com",
        "metadata": {"order_id": "ord_123"},
        "expires_at": int(time.time()) + 3600,
        "shipping_address_collection": {"allowed_countries": ["US", "CA"]},
        "shipping_options": [
            {
                "shipping_rate_data": {
                    "display_name": "Standard",
                    "type": "fixed_amount",
                    "fixed_amount": {"amount": 500, "currency": "usd"},
                    "metadata": {"method": "standard"},
                }
            },
            {
                "shipping_rate_data": {
                    "display_name": "Express",
                    "type": "fixed_amount",
                    "fixed_amount": {"amount": 1500, "currency": "usd"},
                    "metadata": {"method": "express"},
                }
            },
        ],
        "billing_address_collection": "required",
        "payment_intent_data": {"metadata": {"order_id": "ord_123"}},
        "automatic_tax": {"enabled": False},
    }
    params.update(overrides)
    return params


SHIPPING: dict[str, Any] = {
    "name": "Ada Lovelace",
    "address": {
        "line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    },
}


def dev(emu: StripeEmulator, path: str, body: Any = None) -> tuple[int, Any]:
    answer = http_json.request("GET" if body is None else "POST", emu.url + path, body, timeout=10)
    return answer.status, answer.json()


def raw(
    emu: StripeEmulator, method: str, path: str, body: str | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    answer = http_json.request(
        method,
        emu.url + path,
        raw=body.encode() if body is not None else None,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        timeout=10,
    )
    return answer.status, answer.headers, answer.body


# -- sessions -------------------------------------------------------------------


def test_create_and_retrieve_session(client: stripe.StripeClient, emu: StripeEmulator) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.amount_subtotal == 2 * 4995 + 1500
    assert session.amount_total == 2 * 4995 + 1500 + 500  # first shipping option preselected
    assert session.total_details is not None and session.total_details.amount_shipping == 500
    assert session.shipping_cost is not None and session.shipping_cost.amount_total == 500
    assert session.url == f"{emu.url}/c/pay/{session.id}"
    assert session.shipping_address_collection is not None
    assert session.shipping_address_collection.allowed_countries == ["US", "CA"]
    assert session.to_dict()["metadata"] == {"order_id": "ord_123"}
    assert session.livemode is False

    again = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items", "line_items.data.price.product"]}
    )
    assert again.id == session.id
    items = again.to_dict()["line_items"]["data"]
    assert [(i["description"], i["quantity"], i["amount_total"]) for i in items] == [
        ("Calcium + D3", 2, 9990),
        ("Bone broth", 1, 1500),
    ]
    assert items[0]["price"]["product"]["metadata"] == {"sku": "CAL-D3-90"}
    listed = client.v1.checkout.sessions.line_items.list(session.id)
    assert [item.quantity for item in listed.data] == [2, 1]


def test_expire_session_sends_event(client: stripe.StripeClient, receiver: Receiver) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    (event,) = receiver.wait_for("checkout.session.expired")
    assert event.data.object["id"] == session.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)


def test_dev_expire_sends_event(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    status, body = dev(emu, f"/_dev/checkout/sessions/{session.id}/expire", {})
    assert status == 200
    assert body["session"]["status"] == "expired"
    assert body["webhook"]["status"] == 200
    assert [e.type for e in receiver.events()] == ["checkout.session.expired"]


def test_sessions_expire_when_their_time_comes(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    emu.advance_clock(3601)
    (event,) = receiver.wait_for("checkout.session.expired")
    assert event.data.object["id"] == session.id
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_unknown_ids_are_resource_missing(client: stripe.StripeClient) -> None:
    for call in (
        lambda: client.v1.checkout.sessions.retrieve("cs_test_nope"),
        lambda: client.v1.payment_intents.retrieve("pi_nope"),
        lambda: client.v1.charges.retrieve("ch_nope"),
        lambda: client.v1.refunds.retrieve("re_nope"),
        lambda: client.v1.events.retrieve("evt_nope"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as info:
            call()
        assert info.value.http_status == 404
        assert info.value.code == "resource_missing"


# -- validation -----------------------------------------------------------------


def _without_line_items() -> dict[str, Any]:
    params = session_params()
    del params["line_items"]
    return params


def _line_change(**price_data: Any) -> dict[str, Any]:
    params = session_params()
    params["line_items"][0]["price_data"].update(price_data)
    return params


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        (_without_line_items(), "line_items", "parameter_missing"),
        (
            session_params(shipping_address_collection={"allowed_countries": ["US", "CU"]}),
            "shipping_address_collection[allowed_countries][1]",
            None,
        ),
        (
            session_params(shipping_address_collection={"allowed_countries": ["IR"]}),
            "shipping_address_collection[allowed_countries][0]",
            None,
        ),
        (session_params(expires_at=int(time.time()) + 60), "expires_at", None),
        (session_params(expires_at=int(time.time()) + 25 * 3600), "expires_at", None),
        (_line_change(unit_amount=-1), "line_items[0][price_data][unit_amount]", None),
        (
            _line_change(unit_amount="4.99"),
            "line_items[0][price_data][unit_amount]",
            "parameter_invalid_integer",
        ),
        (_line_change(currency="eur"), "line_items[1][price_data][currency]", None),
        (session_params(mode=None), "mode", "parameter_missing"),
        (session_params(colour="red"), "colour", "parameter_unknown"),
    ],
)
def test_validation_errors(
    client: stripe.StripeClient, params: dict[str, Any], param: str, code: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert info.value.http_status == 400
    assert info.value.param == param
    assert info.value.code == code
    assert info.value.error is not None and info.value.error.type == "invalid_request_error"


def test_api_key_is_required(emu: StripeEmulator) -> None:
    status, headers, body = raw(emu, "GET", "/v1/checkout/sessions/cs_test_x")
    assert status == 401
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert headers["Request-Id"].startswith("req_")
    bad = stripe.StripeClient("pk_test_nope", base_addresses={"api": emu.url})
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.checkout.sessions.retrieve("cs_test_x")


def test_raw_form_encoding_with_empty_brackets(emu: StripeEmulator) -> None:
    body = (
        "mode=payment&line_items[0][price_data][currency]=usd"
        "&line_items[0][price_data][unit_amount]=4995"
        "&line_items[0][price_data][product_data][name]=Calcium&line_items[0][quantity]=1"
        "&shipping_address_collection[allowed_countries][]=US"
        "&shipping_address_collection[allowed_countries][]=GB&expand[]=line_items"
    )
    status, headers, data = raw(
        emu, "POST", "/v1/checkout/sessions", body, Authorization="Bearer sk_test_x"
    )
    assert status == 200, data
    session = json.loads(data)
    assert session["shipping_address_collection"]["allowed_countries"] == ["US", "GB"]
    assert session["line_items"]["data"][0]["amount_total"] == 4995
    assert headers["Request-Id"].startswith("req_")


# -- idempotency ----------------------------------------------------------------


def test_idempotency_replay_and_mismatch(client: stripe.StripeClient, emu: StripeEmulator) -> None:
    params = session_params()
    first = client.v1.checkout.sessions.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": "order-ord_123"},
    )
    second = client.v1.checkout.sessions.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": "order-ord_123"},
    )
    assert second.id == first.id
    assert second.last_response is not None
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    changed = session_params(client_reference_id="ord_999")
    changed["expires_at"] = params["expires_at"]
    with pytest.raises(stripe.IdempotencyError) as info:
        client.v1.checkout.sessions.create(
            params=changed,  # type: ignore[arg-type]
            options={"idempotency_key": "order-ord_123"},
        )
    assert info.value.http_status == 400
    # a failed validation stores nothing: the key stays usable
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params=_without_line_items(),  # type: ignore[arg-type]
            options={"idempotency_key": "fresh-key"},
        )
    ok = client.v1.checkout.sessions.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": "fresh-key"},
    )
    assert ok.id != first.id


# -- shapes ---------------------------------------------------------------------


def _reference() -> dict[str, Any]:
    text = (
        resources.files("bonestore_infra.stripe_emulator")
        .joinpath("reference_shapes.json")
        .read_text()
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _shape_problems(reference: Any, ours: Any, where: str) -> list[str]:
    if reference is None or ours is None:
        return []
    if isinstance(reference, dict):
        if not isinstance(ours, dict):
            return [f"{where}: expected an object, got {type(ours).__name__}"]
        problems = [f"{where}.{key}: missing" for key in reference if key not in ours]
        for key, value in reference.items():
            if key in ours and where != "event.data":  # data.object differs by event type
                problems += _shape_problems(value, ours[key], f"{where}.{key}")
        return problems
    if isinstance(reference, list):
        return [] if isinstance(ours, list) else [f"{where}: expected a list"]
    numeric = (int, float)
    if isinstance(reference, bool) or isinstance(ours, bool):
        same = isinstance(reference, bool) and isinstance(ours, bool)
    elif isinstance(reference, numeric):
        same = isinstance(ours, numeric)
    elif isinstance(reference, str) and isinstance(ours, Decimal):
        same = True  # the SDK decodes *_decimal strings to Decimal
    else:
        same = type(reference) is type(ours)
    return [] if same else [f"{where}: {type(ours).__name__}, fixture has {reference!r}"]


def test_objects_have_stripe_fixture_shapes(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": SHIPPING}
    )
    assert status == 200, body
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert isinstance(paid.payment_intent, str)
    intent = client.v1.payment_intents.retrieve(paid.payment_intent)
    assert isinstance(intent.latest_charge, str)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
    event_id = emu.events("checkout.session.completed")[0]["event"]["id"]
    event = client.v1.events.retrieve(event_id)
    items = client.v1.checkout.sessions.line_items.list(session.id)
    reference = _reference()
    ours = {
        "checkout.session": paid.to_dict(),
        "payment_intent": intent.to_dict(),
        "charge": charge.to_dict(),
        "refund": refund.to_dict(),
        "event": event.to_dict(),
        "item": items.data[0].to_dict(),
    }
    problems = [
        p for kind, obj in ours.items() for p in _shape_problems(reference[kind], obj, kind)
    ]
    assert problems == []
    for kind, obj in ours.items():
        assert obj["object"] == kind
    assert event.api_version == stripe.api_version


def test_shape_check_can_fail() -> None:
    reference = _reference()["refund"]
    broken = dict(reference)
    del broken["charge"]
    broken["amount"] = "100"
    assert _shape_problems(reference, broken, "refund") == [
        "refund.charge: missing",
        "refund.amount: str, fixture has 100",
    ]


# -- completing a session and webhooks -----------------------------------------


def test_dev_complete_delivers_signed_webhook(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    express = session.shipping_options[1].shipping_rate
    status, body = dev(
        emu,
        f"/_dev/checkout/sessions/{session.id}/complete",
        {
            "shipping_details": SHIPPING,
            "customer_details": {
                "email": "ada@example.com",
                "name": "Ada L.",
                "address": {"line1": "9 Rue X", "city": "Paris", "country": "fr"},
            },
            "shipping_rate": express,
        },
    )
    assert status == 200, body
    assert body["webhook"]["status"] == 200
    (event,) = receiver.events()  # delivered before the _dev call returned
    assert event.type == "checkout.session.completed"
    assert event.api_version == stripe.api_version
    assert event.livemode is False
    completed = event.data.object
    assert completed["id"] == session.id
    assert completed["status"] == "complete" and completed["payment_status"] == "paid"
    assert completed["client_reference_id"] == "ord_123"
    assert completed["customer_details"]["email"] == "ada@example.com"
    assert completed["customer_details"]["address"]["country"] == "FR"
    shipping = completed["collected_information"]["shipping_details"]
    assert shipping["address"]["country"] == "US" and shipping["name"] == "Ada Lovelace"
    assert completed["shipping_cost"]["shipping_rate"] == express
    assert completed["amount_total"] == 2 * 4995 + 1500 + 1500

    retrieved = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "payment_intent.latest_charge"]}
    )
    intent = retrieved.to_dict()["payment_intent"]
    assert intent["status"] == "succeeded"
    assert intent["amount"] == completed["amount_total"]
    assert intent["metadata"] == {"order_id": "ord_123"}
    assert intent["latest_charge"]["billing_details"]["address"]["country"] == "FR"
    assert intent["latest_charge"]["paid"] is True

    # a tampered payload does not verify
    tampered = receiver.requests[0]["body"].replace(b"ord_123", b"ord_666")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered.decode(), receiver.requests[0]["signature"], SECRET)

    status, _ = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": SHIPPING}
    )
    assert status == 400


def test_webhook_is_retried_after_a_500(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": SHIPPING}
    )
    assert status == 200
    assert body["webhook"]["status"] == 500
    events = receiver.wait_for("checkout.session.completed", count=2)
    assert events[0].id == events[1].id
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, listing = dev(emu, "/_dev/events")
        attempts = [a["status"] for a in listing["data"][0]["attempts"]]
        if attempts == [500, 200]:
            break
        time.sleep(0.02)
    assert attempts == [500, 200]
    assert listing["data"][0]["event"]["pending_webhooks"] == 0


def test_unreachable_receiver_is_recorded_and_resend_duplicates(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    dev(emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": SHIPPING})
    event_id = emu.events()[0]["event"]["id"]
    status, body = dev(emu, f"/_dev/events/{event_id}/resend", {})
    assert status == 200 and body["webhook"]["status"] == 200
    assert [e.id for e in receiver.events()] == [event_id, event_id]

    emu.webhook_url = "http://127.0.0.1:9/nobody-listens"
    status, body = dev(emu, f"/_dev/events/{event_id}/resend", {})
    assert body["webhook"]["status"] is None and body["webhook"]["error"]


def test_refused_shipping_country(client: stripe.StripeClient, emu: StripeEmulator) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    to_france = {"name": "Ada", "address": {**SHIPPING["address"], "country": "FR"}}
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": to_france}
    )
    assert status == 400
    assert body["error"]["param"] == "shipping_details[address][country]"
    status, body = dev(emu, f"/_dev/checkout/sessions/{session.id}/complete", {})
    assert status == 400 and body["error"]["code"] == "parameter_missing"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert emu.events() == []


def test_async_payment_flow(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    _, body = dev(
        emu,
        f"/_dev/checkout/sessions/{session.id}/complete",
        {"shipping_details": SHIPPING, "async": True},
    )
    assert body["session"]["status"] == "complete"
    assert body["session"]["payment_status"] == "unpaid"
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/async_payment", {"succeed": True}
    )
    assert status == 200 and body["session"]["payment_status"] == "paid"
    assert [e.type for e in receiver.events()] == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]
    status, _ = dev(emu, f"/_dev/checkout/sessions/{session.id}/async_payment", {"succeed": True})
    assert status == 400

    other = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    dev(
        emu,
        f"/_dev/checkout/sessions/{other.id}/complete",
        {"shipping_details": SHIPPING, "async": True},
    )
    _, body = dev(emu, f"/_dev/checkout/sessions/{other.id}/async_payment", {"succeed": False})
    assert body["session"]["payment_status"] == "unpaid"
    assert receiver.events()[-1].type == "checkout.session.async_payment_failed"


def test_refunds(client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    _, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": SHIPPING}
    )
    intent_id = body["session"]["payment_intent"]
    total = body["session"]["amount_total"]
    partial = client.v1.refunds.create(
        params={"payment_intent": intent_id, "amount": 1000, "reason": "requested_by_customer"}
    )
    assert partial.id.startswith("re_") and partial.amount == 1000
    assert partial.status == "succeeded" and partial.payment_intent == intent_id
    charge = client.v1.charges.retrieve(partial.charge)  # type: ignore[arg-type]
    assert charge.amount_refunded == 1000 and charge.refunded is False

    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params={"charge": charge.id, "amount": total})
    assert info.value.param == "amount"

    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == total - 1000
    assert client.v1.refunds.retrieve(rest.id).amount == total - 1000
    charge = client.v1.charges.retrieve(charge.id)
    assert charge.amount_refunded == total and charge.refunded is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params={"charge": charge.id})
    assert info.value.code == "charge_already_refunded"

    refunded = receiver.wait_for("charge.refunded", count=2)
    assert refunded[-1].data.object["refunded"] is True
    assert refunded[-1].data.object["object"] == "charge"
    assert refunded[-1].to_dict()["data"]["previous_attributes"]["refunded"] is False
    created = receiver.wait_for("refund.created", count=2)
    assert {e.data.object["id"] for e in created} == {partial.id, rest.id}


# -- failure injection and lifecycle ---------------------------------------------


def test_fail_next_makes_the_sdk_raise_api_error(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    emu.fail_next(1, status=503)
    with pytest.raises(stripe.APIError) as info:
        client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    assert info.value.http_status == 503
    assert client.v1.checkout.sessions.create(params=session_params()).status == "open"  # type: ignore[arg-type]

    status, _ = dev(emu, "/_dev/failures", {"count": 2, "status": 500})
    assert status == 200
    retrying = stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emu.url}, max_network_retries=2
    )
    # two injected failures, the SDK's third try succeeds (same idempotency key)
    assert retrying.v1.checkout.sessions.create(params=session_params()).status == "open"  # type: ignore[arg-type]


def test_timeout_failure_drops_the_connection(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    status, _ = dev(emu, "/_dev/failures", {"count": 1, "status": "timeout", "delay": 0.2})
    assert status == 200
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.retrieve("cs_test_x")


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1"):
            StripeEmulator(port=port).start()


def test_no_webhook_url_only_records_events() -> None:
    with StripeEmulator(port=0) as emu:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": emu.url})
        session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
        status, body = dev(
            emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": SHIPPING}
        )
        assert status == 200 and body["webhook"] is None
        (record,) = emu.events()
        assert record["event"]["type"] == "checkout.session.completed"
        assert record["event"]["pending_webhooks"] == 0 and record["attempts"] == []


# -- the hosted page ----------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def _post_page(emu: StripeEmulator, session_id: str, form: dict[str, str]) -> tuple[int, str, str]:
    from urllib.parse import urlencode

    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(
        f"{emu.url}/c/pay/{session_id}", data=urlencode(form).encode(), method="POST"
    )
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Location", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Location", ""), exc.read().decode()


def test_hosted_page_renders_items_and_allowed_countries(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    assert session.url is not None
    with urllib.request.urlopen(session.url, timeout=10) as response:
        page = response.read().decode()
    assert "Calcium + D3" in page and "Bone broth" in page
    assert "119.90 USD" in page  # 2 x 49.95 + 15.00 + 5.00 standard shipping
    assert '<option value="US"' in page and '<option value="CA"' in page
    assert '<option value="FR"' not in page
    for field in ("email", "name", "line1", "city", "state", "postal_code", "country"):
        assert f'id="{field}"' in page
    assert 'id="card_number"' in page and 'id="pay"' in page
    assert 'value="ada@example.com"' in page
    assert "https://shop.test/cancel" in page


def test_hosted_page_pays_and_declines(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    form = {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "shipping_rate": str(session.shipping_options[1].shipping_rate),
        "card_number": "4000 0000 0000 0002",
    }
    status, _, page = _post_page(emu, session.id, form)
    assert status == 402 and "declined" in page
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    status, _, page = _post_page(emu, session.id, {**form, "country": "FR"})
    assert status == 400 and 'id="error"' in page

    status, location, _ = _post_page(
        emu, session.id, {**form, "card_number": "4242 4242 4242 4242"}
    )
    assert status == 303
    assert location == f"https://shop.test/success?session_id={session.id}"
    (event,) = receiver.events()
    assert event.data.object["shipping_cost"]["amount_total"] == 1500
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert paid.payment_status == "paid"

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{emu.url}/c/pay/{session.id}", timeout=10)
    assert info.value.code == 409
    with info.value as response:
        assert "already complete" in response.read().decode()


def test_hosted_page_billing_only_and_expired(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    params = session_params()
    del params["shipping_address_collection"], params["shipping_options"]
    session = client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    with urllib.request.urlopen(f"{emu.url}/c/pay/{session.id}", timeout=10) as response:
        page = response.read().decode()
    assert "Billing address" in page and '<option value="IR"' in page
    status, _, _ = _post_page(
        emu, session.id, {"email": "a@b.co", "name": "A", "card_number": "4242424242424242"}
    )
    assert status == 400  # billing address required
    status, _, _ = _post_page(
        emu,
        session.id,
        {
            "email": "a@b.co",
            "line1": "1 Azadi St",
            "country": "IR",
            "card_number": "4242424242424242",
        },
    )
    assert status == 303
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert paid.customer_details is not None
    assert paid.customer_details.address is not None
    assert paid.customer_details.address.country == "IR"
    assert paid.to_dict()["collected_information"]["shipping_details"] is None

    other = client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    client.v1.checkout.sessions.expire(other.id)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{emu.url}/c/pay/{other.id}", timeout=10)
    assert info.value.code == 410
    with info.value as response:
        assert "expired" in response.read().decode()


# -- a fixed shipping address (payment_intent_data[shipping]) --------------------

FIXED = {
    "name": "Ada Lovelace",
    "address": {
        "line1": "PO Box 12",
        "line2": "Unit 4",
        "city": "Honolulu",
        "state": "HI",
        "postal_code": "96813",
        "country": "US",
    },
}


def fixed_session_params(**overrides: Any) -> dict[str, Any]:
    """A session as address-first checkout creates it: the address fixed, one method."""
    params = session_params(**overrides)
    del params["shipping_address_collection"]
    params["shipping_options"] = params["shipping_options"][1:]  # express only
    params["payment_intent_data"] = {"metadata": {"order_id": "ord_123"}, "shipping": FIXED}
    return params


def test_fixed_address_is_charged_and_carried_where_stripe_puts_it(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=fixed_session_params())  # type: ignore[arg-type]
    assert session.shipping_address_collection is None
    assert session.amount_total == 2 * 4995 + 1500 + 1500  # the one option is preselected
    billing = {"country": "CU", "postal_code": "10400"}
    status, body = dev(
        emu,
        f"/_dev/checkout/sessions/{session.id}/complete",
        {"customer_details": {"address": billing}},
    )
    assert status == 200, body
    paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert paid.shipping_cost is not None and paid.shipping_cost.amount_total == 1500
    assert paid.amount_total == 2 * 4995 + 3000
    # Nothing was collected by Checkout: the address is the PaymentIntent's (and Charge's).
    assert paid.collected_information is not None
    assert paid.collected_information.shipping_details is None
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent) and intent.shipping is not None
    assert intent.shipping.to_dict() == {
        **FIXED,
        "carrier": None,
        "phone": None,
        "tracking_number": None,
    }
    assert intent.metadata.to_dict() == {"order_id": "ord_123"}
    assert isinstance(intent.latest_charge, str)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.shipping is not None and charge.shipping.address.line1 == "PO Box 12"
    assert charge.billing_details.address.country == "CU"  # billing screened apart
    (event,) = receiver.events()
    assert event.data.object["payment_intent"] == intent.id


def test_fixed_address_the_same_written_differently_is_accepted(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    session = client.v1.checkout.sessions.create(params=fixed_session_params())  # type: ignore[arg-type]
    same = {
        "name": "ada lovelace",
        "address": {
            **FIXED["address"],
            "state": "US-HI",
            "postal_code": "968 13",
            "city": "HONOLULU",
        },
    }
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": same}
    )
    assert status == 200, body


@pytest.mark.parametrize(
    "change",
    [
        {"country": "CA"},
        {"line1": "1 Main St"},
        {"state": "AK"},
        {"postal_code": "99501"},
        {"line2": None},
    ],
    ids=["country", "line1", "state", "postal_code", "line2_dropped"],
)
def test_fixed_address_cannot_be_changed_at_completion(
    client: stripe.StripeClient, emu: StripeEmulator, change: dict[str, Any]
) -> None:
    session = client.v1.checkout.sessions.create(params=fixed_session_params())  # type: ignore[arg-type]
    other = {"name": FIXED["name"], "address": {**FIXED["address"], **change}}
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_details": other}
    )
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "shipping_address_fixed"
    assert body["error"]["param"] == "shipping_details[address]"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert emu.events() == []
    status, body = dev(
        emu,
        f"/_dev/checkout/sessions/{session.id}/complete",
        {"shipping_details": {"name": "Mallory", "address": FIXED["address"]}},
    )
    assert status == 400 and body["error"]["code"] == "shipping_address_fixed"


def test_fixed_address_with_one_option_cannot_pick_another_rate(
    client: stripe.StripeClient, emu: StripeEmulator
) -> None:
    earlier = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
    cheaper = str(earlier.shipping_options[0].shipping_rate)
    session = client.v1.checkout.sessions.create(params=fixed_session_params())  # type: ignore[arg-type]
    status, body = dev(
        emu, f"/_dev/checkout/sessions/{session.id}/complete", {"shipping_rate": cheaper}
    )
    assert status == 400 and body["error"]["param"] == "shipping_rate"


def test_fixed_address_and_collection_together_are_refused(client: stripe.StripeClient) -> None:
    params = fixed_session_params()
    params["shipping_address_collection"] = {"allowed_countries": ["US"]}
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert info.value.param == "payment_intent_data[shipping]"
    bad = fixed_session_params()
    bad["payment_intent_data"]["shipping"] = {"name": "Ada", "address": {"city": "X"}}
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params=bad)  # type: ignore[arg-type]
    assert info.value.param == "payment_intent_data[shipping][address][line1]"


def test_hosted_page_shows_a_fixed_address_read_only(
    client: stripe.StripeClient, emu: StripeEmulator, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(params=fixed_session_params())  # type: ignore[arg-type]
    assert session.url is not None
    with urllib.request.urlopen(session.url, timeout=10) as response:
        page = response.read().decode()
    assert 'id="fixed-shipping"' in page
    assert "PO Box 12" in page and "Honolulu HI 96813" in page and "United States" in page
    # The address fields are the billing address: nothing on the page edits the shipping one.
    assert "<legend>Billing address</legend>" in page and "<legend>Shipping address" not in page
    assert page.count('type="radio" name="shipping_rate"') == 1
    form = {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "postal_code": "10115",
        "country": "DE",
        "line1": "Somewhere Else 1",
        "card_number": "4242 4242 4242 4242",
    }
    status, _, _ = _post_page(emu, session.id, form)
    assert status == 303
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert isinstance(paid.payment_intent, str)
    intent = client.v1.payment_intents.retrieve(paid.payment_intent)
    assert intent.shipping is not None and intent.shipping.address.line1 == "PO Box 12"
    assert isinstance(intent.latest_charge, str)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.billing_details.address.line1 == "Somewhere Else 1"
    assert charge.billing_details.address.country == "DE"
