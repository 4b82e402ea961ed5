"""Stripe's form encoding and parameter validation, without a server."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from stripe._encode import _api_encode

from bonestore_infra.stripe_emulator.checkout import parse_session
from bonestore_infra.stripe_emulator.errors import StripeError
from bonestore_infra.stripe_emulator.forms import parse_form
from bonestore_infra.stripe_emulator.params import Params
from bonestore_infra.stripe_emulator.webhooks import signature_header

pytestmark = pytest.mark.unit


def test_nested_keys_lists_and_empty_brackets() -> None:
    body = (
        "mode=payment&metadata[order_id]=o1&line_items[0][price_data][unit_amount]=4995"
        "&line_items[1][quantity]=2&line_items[0][quantity]=1"
        "&expand[]=line_items&expand[]=payment_intent&note="
    )
    assert parse_form(body) == {
        "mode": "payment",
        "metadata": {"order_id": "o1"},
        "line_items": [
            {"price_data": {"unit_amount": "4995"}, "quantity": "1"},
            {"quantity": "2"},
        ],
        "expand": ["line_items", "payment_intent"],
        "note": "",
    }


def test_round_trips_what_the_sdk_encodes() -> None:
    params = {
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 5}, "quantity": 1}],
        "shipping_address_collection": {"allowed_countries": ["US", "CA"]},
        "automatic_tax": {"enabled": False},
    }
    decoded = parse_form(urlencode(list(_api_encode(params))))
    assert decoded == {
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": "5"}, "quantity": "1"}],
        "shipping_address_collection": {"allowed_countries": ["US", "CA"]},
        "automatic_tax": {"enabled": "false"},
    }


@pytest.mark.parametrize("body", ["a[b=1", "a=1&a[b]=2", "a[b]=1&a=2", "[x]=1"])
def test_malformed_keys_are_400(body: str) -> None:
    with pytest.raises(StripeError) as info:
        parse_form(body)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("value", "ok"),
    [("12", True), ("-3", True), ("1.5", False), ("abc", False), ("", True), ("٣", False)],
)
def test_integers(value: str, ok: bool) -> None:
    p = Params({"n": value})
    if ok:
        p.integer("n")
    else:
        with pytest.raises(StripeError) as info:
            p.integer("n")
        assert info.value.code == "parameter_invalid_integer"
        assert info.value.param == "n"


def test_nested_param_paths_in_errors() -> None:
    p = Params({"a": {"b": [{"c": "x"}]}})
    a = p.obj("a")
    assert a is not None
    with pytest.raises(StripeError) as info:
        Params(a.data["b"][0], a.at("b") + "[0]").integer("c")
    assert info.value.param == "a[b][0][c]"


def _session(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "USD",
                    "unit_amount": "100",
                    "product_data": {"name": "x"},
                },
                "quantity": "1",
            }
        ],
    }
    params.update(overrides)
    return params


def _parse(params: dict[str, Any], now: int = 1_000_000) -> Any:
    return parse_session(Params(params), now, lambda _id: None)


def test_valid_session_parameters() -> None:
    parsed = _parse(_session(expires_at=str(1_000_000 + 1800)))
    assert parsed.currency == "usd"
    assert parsed.lines[0].unit_amount == 100
    assert parsed.expires_at == 1_000_000 + 1800


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"expires_at": str(1_000_000 + 1799)}, "expires_at"),
        ({"expires_at": str(1_000_000 + 86401)}, "expires_at"),
        ({"shipping_address_collection": {"allowed_countries": ["KP"]}}, None),
        ({"shipping_address_collection": {}}, None),
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"billing_address_collection": "sometimes"}, "billing_address_collection"),
        ({"automatic_tax": {}}, "automatic_tax[enabled]"),
        ({"mode": "subscription"}, "mode"),
        ({"line_items": []}, "line_items"),
        ({"shipping_options": [{"shipping_rate_data": {"display_name": "S"}}]}, None),
    ],
)
def test_invalid_session_parameters(overrides: dict[str, Any], param: str | None) -> None:
    with pytest.raises(StripeError) as info:
        _parse(_session(**overrides))
    assert info.value.status == 400
    if param is not None:
        assert info.value.param == param


def test_shipping_option_currency_must_match() -> None:
    option = {
        "shipping_rate_data": {
            "display_name": "Standard",
            "type": "fixed_amount",
            "fixed_amount": {"amount": "500", "currency": "eur"},
        }
    }
    with pytest.raises(StripeError) as info:
        _parse(_session(shipping_options=[option]))
    assert info.value.param == "shipping_options[0][shipping_rate_data][fixed_amount][currency]"


def test_signature_verifies_with_the_sdk() -> None:
    payload = b'{"id": "evt_1", "object": "event"}'
    now = int(time.time())
    header = signature_header(payload, "whsec_x", now)
    assert stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_x")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_other")
