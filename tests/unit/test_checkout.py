"""Checkout planning (pure): prices from the catalog, the rules, the Stripe parameters."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bonestore.adapters.orders import order_to_record
from bonestore.adapters.stripe_translation import parse_session, session_params
from bonestore.domain.catalog import Product, seed_catalog
from bonestore.domain.errors import InvalidInput, Unprocessable
from bonestore.domain.geo import Destination, normalize_destination
from bonestore.domain.rules import default_engine
from bonestore.service.checkout import (
    STRIPE_SHIPPING_COUNTRIES,
    CheckoutPlan,
    CheckoutRequest,
    created_body,
    plan_checkout,
    shipping_rate_ids,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRODUCTS: dict[str, Product] = {p.sku: p for p in seed_catalog()}


def request(items: list[dict[str, Any]], **extra: Any) -> CheckoutRequest:
    return CheckoutRequest.model_validate(
        {
            "items": items,
            "success_url": "https://shop.example.com/ok",
            "cancel_url": "http://localhost:3000/cart",
            **extra,
        }
    )


def plan(
    items: list[dict[str, Any]], destination: dict[str, Any] | None = None, **extra: Any
) -> CheckoutPlan:
    dest = normalize_destination(destination) if destination else None
    return plan_checkout(
        request(items, **extra),
        PRODUCTS,
        engine=default_engine(),
        order_id="ord_test",
        now=NOW,
        expiry_minutes=30,
        destination=dest,
    )


def test_physical_cart_prices_from_catalog_and_limits_countries() -> None:
    result = plan(
        [{"sku": "trueosteo-120", "quantity": 2, "price": 1, "unit_price": {"amount": 1}}],
        {"country": "us", "subdivision": "IL"},
        email="Jane@Example.com",
        total=1,
    )
    order, params = order_to_record(result.order), session_params(result.session)
    assert order["items"][0]["unit_price"] == {"amount": 4995, "currency": "USD"}
    assert order["items"][0]["line_total"] == {"amount": 9990, "currency": "USD"}
    assert order["amount_subtotal"] == {"amount": 9990, "currency": "USD"}
    assert order["email_lc"] == "jane@example.com"
    assert order["stock_lines"] == [{"sku": "TRUEOSTEO-120", "quantity": 2}]
    assert order["eligibility_at_checkout"]["eligible"] is True
    assert order["ruleset_version"] == default_engine().version
    assert params["line_items"][0]["price_data"]["unit_amount"] == 4995
    assert params["client_reference_id"] == "ord_test"
    assert params["metadata"] == {"order_id": "ord_test"}
    assert params["payment_intent_data"]["metadata"] == {"order_id": "ord_test"}
    assert params["billing_address_collection"] == "required"
    allowed = params["shipping_address_collection"]["allowed_countries"]
    assert allowed == result.allowed_countries
    assert "US" in allowed and "CA" not in allowed  # no supplements to Canada
    assert set(allowed) <= STRIPE_SHIPPING_COUNTRIES
    assert not {"CU", "IR", "KP", "RU", "SY"} & set(allowed)
    methods = [o["shipping_rate_data"]["metadata"]["method_id"] for o in params["shipping_options"]]
    assert methods == ["standard", "express"]
    standard = params["shipping_options"][0]["shipping_rate_data"]["fixed_amount"]
    assert standard == {"amount": 0, "currency": "usd"}  # free from 75.00 of goods
    assert params["expires_at"] - int(NOW.timestamp()) >= 30 * 60


def test_digital_only_collects_billing_not_shipping() -> None:
    result = plan([{"sku": "ORP-EBOOK", "quantity": 1}])
    assert result.allowed_countries is None
    assert "shipping_address_collection" not in session_params(result.session)
    assert "shipping_options" not in session_params(result.session)
    assert session_params(result.session)["billing_address_collection"] == "required"
    assert order_to_record(result.order)["stock_lines"] == []
    body = created_body(result, parse_session({"id": "cs_1", "url": "https://pay"}))
    assert body["allowed_countries"] is None
    assert body["eligibility"] is None


def test_digital_cart_to_an_embargoed_destination_is_refused() -> None:
    with pytest.raises(Unprocessable) as caught:
        plan([{"sku": "ORP-EBOOK", "quantity": 1}], {"country": "IR"})
    assert caught.value.code == "not_shippable"


def test_physical_cart_needs_a_destination() -> None:
    with pytest.raises(InvalidInput) as caught:
        plan([{"sku": "ORP-EBOOK", "quantity": 1}, {"sku": "DENSERCISE-DVD", "quantity": 1}])
    assert caught.value.code == "destination_required"


def test_ineligible_cart_lists_every_line() -> None:
    with pytest.raises(Unprocessable) as caught:
        plan(
            [{"sku": "TRUEOSTEO-120", "quantity": 1}, {"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
            {"country": "CA"},
        )
    error = caught.value
    assert error.code == "not_shippable" and error.status == 422
    assert error.details is not None
    by_sku = {line["sku"]: line for line in error.details}
    assert by_sku["TRUEOSTEO-120"]["eligible"] is False
    assert by_sku["TRUEOSTEO-120"]["reasons"]
    assert by_sku["BONE-APPETIT-BOOK"]["eligible"] is True


def test_duplicate_skus_are_merged() -> None:
    result = plan(
        [{"sku": "D3K2-60", "quantity": 2}, {"sku": "d3k2-60", "quantity": 3}], {"country": "US"}
    )
    assert [(i["sku"], i["quantity"]) for i in order_to_record(result.order)["items"]] == [
        ("D3K2-60", 5)
    ]
    with pytest.raises(InvalidInput) as caught:
        plan(
            [{"sku": "D3K2-60", "quantity": 999}, {"sku": "D3K2-60", "quantity": 1}],
            {"country": "US"},
        )
    assert caught.value.code == "invalid_quantity"


def test_quantity_limits_apply_to_the_merged_line() -> None:
    # Japan: at most two months' supply: floor(60 / 30) = 2 TrueOsteo.
    with pytest.raises(Unprocessable):
        plan(
            [{"sku": "TRUEOSTEO-120", "quantity": 2}, {"sku": "TRUEOSTEO-120", "quantity": 1}],
            {"country": "JP"},
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"items": []},
        {"items": [{"sku": "X", "quantity": 0}]},
        {"items": [{"sku": "X", "quantity": 1000}]},
        {"success_url": "javascript:alert(1)"},
        {"cancel_url": "/relative"},
        {"email": "not-an-email"},
    ],
)
def test_request_validation(bad: dict[str, Any]) -> None:
    body: dict[str, Any] = {
        "items": [{"sku": "ORP-EBOOK", "quantity": 1}],
        "success_url": "https://a.example/ok",
        "cancel_url": "https://a.example/no",
        **bad,
    }
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate(body)


def test_order_expiry_matches_the_session() -> None:
    result = plan([{"sku": "ORP-EBOOK", "quantity": 1}])
    expires = datetime.fromisoformat(
        order_to_record(result.order)["reservation_expires_at"].replace("Z", "+00:00")
    )
    assert int(expires.timestamp()) == session_params(result.session)["expires_at"]
    assert expires - NOW >= timedelta(minutes=30)


def test_shipping_rate_ids_follow_option_order() -> None:
    result = plan([{"sku": "DENSERCISE-DVD", "quantity": 1}], {"country": "US"})
    session = {
        "shipping_options": [
            {"shipping_amount": 595, "shipping_rate": "shr_a"},
            {"shipping_amount": 1995, "shipping_rate": {"id": "shr_b"}},
        ]
    }
    assert shipping_rate_ids(parse_session(session), result.decision) == {
        "shr_a": "standard",
        "shr_b": "express",
    }


def test_stripe_countries_match_the_sdk_and_the_emulator() -> None:
    from stripe.params.checkout._session_create_params import (
        SessionCreateParamsShippingAddressCollection as Collection,
    )

    from bonestore_infra.stripe_emulator.countries import SHIPPING_COUNTRIES

    annotation = typing.get_type_hints(Collection)["allowed_countries"]
    literal = typing.get_args(typing.get_args(annotation)[0])[0]
    assert set(typing.get_args(literal)) == STRIPE_SHIPPING_COUNTRIES == SHIPPING_COUNTRIES


def test_destination_must_be_in_allowed_countries() -> None:
    result = plan([{"sku": "BONE-APPETIT-BOOK", "quantity": 1}], {"country": "GB"})
    assert result.allowed_countries is not None
    assert "GB" in result.allowed_countries
    assert isinstance(result.decision.destination if result.decision else None, Destination)
