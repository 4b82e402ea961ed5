"""The emulator's state transitions, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from bonestore_infra.stripe_emulator.checkout import parse_session
from bonestore_infra.stripe_emulator.errors import StripeError
from bonestore_infra.stripe_emulator.page import money, render
from bonestore_infra.stripe_emulator.params import Params
from bonestore_infra.stripe_emulator.store import PaymentInput, Store, luhn_ok

pytestmark = pytest.mark.unit

NOW = 1_750_000_000


def make_store() -> Store:
    return Store(base_url=lambda: "http://emu", api_version="2026-10-28.endive", clock=lambda: NOW)


def make_session(store: Store, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "1000",
                    "product_data": {"name": "Vitamin K2"},
                },
                "quantity": "3",
            }
        ],
        "shipping_address_collection": {"allowed_countries": ["US"]},
        "shipping_options": [
            {
                "shipping_rate_data": {
                    "display_name": "Standard",
                    "fixed_amount": {"amount": "700", "currency": "usd"},
                }
            }
        ],
    }
    params.update(overrides)
    return store.create_session(parse_session(Params(params), store.now(), store.lookup))


US = {"name": "Ann", "address": {"line1": "1 Main", "city": "X", "country": "us"}}


def test_totals_and_completion() -> None:
    store = make_store()
    session = make_session(store)
    assert session["amount_subtotal"] == 3000 and session["amount_total"] == 3700
    assert session["url"] == f"http://emu/c/pay/{session['id']}"
    done, events = store.complete_session(session["id"], PaymentInput(shipping=US))
    assert done["status"] == "complete" and done["payment_status"] == "paid"
    assert done["url"] is None
    assert done["collected_information"]["shipping_details"]["address"]["country"] == "US"
    assert done["customer_details"]["address"]["country"] == "US"  # billing = shipping
    intent = store.get("payment_intent", done["payment_intent"])
    charge = store.get("charge", intent["latest_charge"])
    assert intent["amount"] == charge["amount"] == 3700
    (record,) = store.event_records()
    assert record["event"]["id"] == events[0]
    assert record["event"]["type"] == "checkout.session.completed"
    assert record["event"]["request"] == {"id": None, "idempotency_key": None}


@pytest.mark.parametrize(
    ("pay", "param"),
    [
        (PaymentInput(), "shipping_details"),
        (PaymentInput(shipping={"name": "A", "address": {"country": "US"}}), None),
        (
            PaymentInput(shipping={"name": "A", "address": {"line1": "x", "country": "CA"}}),
            "shipping_details[address][country]",
        ),
        (PaymentInput(shipping=US, shipping_rate="shr_other"), "shipping_rate"),
        (PaymentInput(shipping=US, card_number="4000000000000002"), "card_number"),
        (PaymentInput(shipping=US, card_number="1234"), "card_number"),
    ],
)
def test_refused_completions_leave_the_session_open(pay: PaymentInput, param: str | None) -> None:
    store = make_store()
    session = make_session(store)
    with pytest.raises(StripeError) as info:
        store.complete_session(session["id"], pay)
    assert 400 <= info.value.status < 500
    if param is not None:
        assert info.value.param == param
    assert store.get("checkout.session", session["id"])["status"] == "open"
    assert store.event_records() == []


def test_declined_card_is_a_card_error() -> None:
    store = make_store()
    session = make_session(store)
    with pytest.raises(StripeError) as info:
        store.complete_session(
            session["id"], PaymentInput(shipping=US, card_number="4000000000000002")
        )
    assert info.value.type == "card_error" and info.value.decline_code == "generic_decline"


def test_expiry_by_time() -> None:
    store = make_store()
    session = make_session(store)
    assert store.expire_due() == []
    store.clock_offset = 24 * 3600
    (event_id,) = store.expire_due()
    assert store.get("event", event_id)["type"] == "checkout.session.expired"
    assert store.get("checkout.session", session["id"])["status"] == "expired"
    with pytest.raises(StripeError):
        store.complete_session(session["id"], PaymentInput(shipping=US))


def test_billing_required_without_shipping() -> None:
    store = make_store()
    session = make_session(
        store,
        shipping_address_collection="",
        shipping_options="",
        billing_address_collection="required",
    )
    with pytest.raises(StripeError) as info:
        store.complete_session(session["id"], PaymentInput())
    assert info.value.param == "customer_details[address]"
    with pytest.raises(StripeError):
        store.complete_session(session["id"], PaymentInput(shipping=US))
    done, _ = store.complete_session(
        session["id"], PaymentInput(billing_address={"line1": "x", "country": "IR"})
    )
    assert done["customer_details"]["address"]["country"] == "IR"
    assert done["shipping_cost"] is None and done["amount_total"] == 3000


def test_page_lists_only_allowed_countries() -> None:
    store = make_store()
    session = make_session(store, shipping_address_collection={"allowed_countries": ["CA", "US"]})
    status, html = render(store, session["id"], None, None)
    assert status == 200
    assert html.count("<option value=") == 3  # the placeholder, CA and US
    assert "Vitamin K2 × 3" in html and "37.00 USD" in html
    assert render(store, "cs_test_missing", None, None)[0] == 404


def test_helpers() -> None:
    assert luhn_ok("4242424242424242") and not luhn_ok("4242424242424241")
    assert money(4995, "usd") == "49.95 USD"
    assert money(500, "JPY") == "500 JPY"
    assert money(1234, "kwd") == "1.234 KWD"
