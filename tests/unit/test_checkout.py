"""Checkout planning (pure): prices from the catalog, the rules, the Stripe parameters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bonestore.adapters.orders import order_to_record
from bonestore.adapters.stripe_translation import parse_session, session_params
from bonestore.domain.catalog import Product, seed_catalog
from bonestore.domain.errors import InvalidInput, Unprocessable
from bonestore.domain.geo import Destination, normalize_destination
from bonestore.domain.order_token import order_token_hash
from bonestore.domain.rules import default_engine
from bonestore.service.checkout import (
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


US_ADDRESS = {
    "name": "Jane  Doe",
    "line1": "1 Main St",
    "city": "Springfield",
    "subdivision": "il",
    "postal_code": "627011234",
    "country": "us",
}


def plan(
    items: list[dict[str, Any]],
    destination: dict[str, Any] | None = None,
    *,
    address: dict[str, Any] | None = None,
    **extra: Any,
) -> CheckoutPlan:
    dest = normalize_destination(destination) if destination else None
    if address is None and destination is not None:
        address = {"name": "A B", "line1": "1 Main St", "city": "Town", **destination}
        address.setdefault("postal_code", POSTAL.get(destination["country"].upper()))
        address.setdefault("subdivision", SUBDIVISION.get(destination["country"].upper()))
        address = {k: v for k, v in address.items() if v is not None}
    if address is not None:
        extra["shipping_address"] = address
    return plan_checkout(
        request(items, **extra),
        PRODUCTS,
        engine=default_engine(),
        order_id="ord_test",
        now=NOW,
        expiry_minutes=30,
        destination=dest,
        order_token="tok",
    )


POSTAL = {"US": "62701", "CA": "K1A 0B1", "JP": "100-0001", "GB": "SW1A 1AA"}
SUBDIVISION = {"US": "IL", "CA": "ON", "JP": "13"}


def test_physical_cart_prices_from_catalog_and_fixes_address_and_method() -> None:
    result = plan(
        [{"sku": "trueosteo-120", "quantity": 2, "price": 1, "unit_price": {"amount": 1}}],
        address=US_ADDRESS,
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
    assert order["eligibility_at_checkout"]["destination"]["line1"] == "1 Main St"
    assert order["ruleset_version"] == default_engine().version
    assert result.order.order_token_hash == order_token_hash("tok")
    assert params["line_items"][0]["price_data"]["unit_amount"] == 4995
    assert params["client_reference_id"] == "ord_test"
    assert params["metadata"] == {"order_id": "ord_test"}
    assert params["payment_intent_data"]["metadata"] == {"order_id": "ord_test"}
    assert params["billing_address_collection"] == "required"
    assert "shipping_address_collection" not in params
    assert params["payment_intent_data"]["shipping"] == {
        "name": "Jane Doe",
        "address": {
            "line1": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701-1234",
            "country": "US",
        },
    }
    assert result.allowed_countries == ["US"]
    # No method asked for: the cheapest the rules offer (free standard from 75.00).
    (option,) = params["shipping_options"]
    assert option["shipping_rate_data"]["metadata"]["method_id"] == "standard"
    assert option["shipping_rate_data"]["fixed_amount"] == {"amount": 0, "currency": "usd"}
    assert params["expires_at"] - int(NOW.timestamp()) >= 30 * 60
    body = created_body(replace(result.order, stripe_session_id="cs_1", checkout_url="https://pay"))
    assert body["shipping_address"] == {
        "name": "Jane Doe",
        "line1": "1 Main St",
        "city": "Springfield",
        "subdivision": "US-IL",
        "postal_code": "62701-1234",
        "country": "US",
    }
    assert body["shipping_method"] == {
        "id": "standard",
        "name": result.order.shipping_method.name if result.order.shipping_method else None,
        "price": {"amount": 0, "currency": "USD"},
    }
    assert body["allowed_countries"] == ["US"]


def test_express_is_charged_at_the_rules_price() -> None:
    result = plan([{"sku": "DENSERCISE-DVD", "quantity": 1}], address=US_ADDRESS,
                  shipping_method="express")  # fmt: skip
    (option,) = session_params(result.session)["shipping_options"]
    assert option["shipping_rate_data"]["metadata"]["method_id"] == "express"
    assert result.shipping_method is not None
    price = result.shipping_method.price
    assert option["shipping_rate_data"]["fixed_amount"]["amount"] == price.amount > 0
    assert result.order.amount_total.amount == result.order.amount_subtotal.amount + price.amount


def test_po_box_with_express_is_refused_with_the_rules_reason() -> None:
    with pytest.raises(Unprocessable) as caught:
        plan([{"sku": "DENSERCISE-DVD", "quantity": 1}],
             address={**US_ADDRESS, "line1": "PO Box 12"}, shipping_method="express")  # fmt: skip
    error = caught.value
    assert error.code == "shipping_method_unavailable"
    assert "PO box" in error.message
    assert error.details and error.details[0]["reasons"]
    standard = plan([{"sku": "DENSERCISE-DVD", "quantity": 1}],
                    address={**US_ADDRESS, "line1": "PO Box 12"})  # fmt: skip
    assert standard.shipping_method is not None
    assert standard.shipping_method.method_id == "standard"


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ({**US_ADDRESS, "postal_code": None}, "invalid_postal_code"),
        ({**US_ADDRESS, "subdivision": None}, "invalid_subdivision"),
        ({**US_ADDRESS, "subdivision": "Ontario"}, "invalid_subdivision"),
        ({**US_ADDRESS, "country": "XX"}, "invalid_country"),
        ({**US_ADDRESS, "name": "   "}, "invalid_address"),
    ],
)
def test_incomplete_addresses_are_named_400s(address: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan([{"sku": "DENSERCISE-DVD", "quantity": 1}],
             address={k: v for k, v in address.items() if v is not None})  # fmt: skip
    assert caught.value.code == code


def test_digital_only_collects_billing_not_shipping() -> None:
    result = plan([{"sku": "ORP-EBOOK", "quantity": 1}])
    assert result.allowed_countries is None
    assert "shipping_address_collection" not in session_params(result.session)
    assert "shipping_options" not in session_params(result.session)
    assert "shipping" not in session_params(result.session)["payment_intent_data"]
    assert session_params(result.session)["billing_address_collection"] == "required"
    assert order_to_record(result.order)["stock_lines"] == []
    body = created_body(replace(result.order, stripe_session_id="cs_1", checkout_url="https://pay"))
    assert body["allowed_countries"] is None
    assert body["eligibility"] is None
    assert body["shipping_address"] is None and body["shipping_method"] is None


def test_digital_only_ignores_an_address() -> None:
    result = plan([{"sku": "ORP-EBOOK", "quantity": 1}], address=US_ADDRESS,
                  shipping_method="express")  # fmt: skip
    assert result.shipping_address is None and result.order.shipping_address is None
    assert "shipping_options" not in session_params(result.session)
    assert result.decision is not None and result.decision.eligible  # decided on it


@pytest.mark.parametrize(
    "where",
    [
        {"country": "CU", "postal_code": "10400", "city": "Havana"},
        {"country": "UA", "postal_code": "95000", "city": "Simferopol"},  # Crimea by its code
        {"country": "UA", "subdivision": "UA-14", "postal_code": "83001", "city": "Donetsk"},
    ],
)
def test_digital_only_with_an_embargoed_address_is_refused(where: dict[str, str]) -> None:
    """Nothing may be sold to an embargoed buyer: an address sent with a digital cart is
    decided on, as a v1 destination is, rather than left to the billing check."""
    address = {"name": "A Buyer", "line1": "1 Main St", **where}
    with pytest.raises(Unprocessable) as caught:
        plan([{"sku": "ORP-EBOOK", "quantity": 1}], address=address)
    assert caught.value.code == "not_shippable"
    assert caught.value.details and caught.value.details[0]["reasons"][0]["code"] == "embargoed"


def test_digital_cart_to_an_embargoed_destination_is_refused() -> None:
    with pytest.raises(Unprocessable) as caught:
        plan_checkout(
            request([{"sku": "ORP-EBOOK", "quantity": 1}]),
            PRODUCTS,
            engine=default_engine(),
            order_id="ord_test",
            now=NOW,
            expiry_minutes=30,
            destination=normalize_destination({"country": "IR"}),
            order_token="tok",
        )
    assert caught.value.code == "not_shippable"


@pytest.mark.parametrize("destination", [None, {"country": "US"}])
def test_physical_cart_needs_the_shipping_address(destination: dict[str, Any] | None) -> None:
    with pytest.raises(Unprocessable) as caught:
        plan_checkout(
            request(
                [{"sku": "ORP-EBOOK", "quantity": 1}, {"sku": "DENSERCISE-DVD", "quantity": 1}]
            ),
            PRODUCTS,
            engine=default_engine(),
            order_id="ord_test",
            now=NOW,
            expiry_minutes=30,
            destination=normalize_destination(destination) if destination else None,
            order_token="tok",
        )
    assert caught.value.code == "shipping_address_required"


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


def test_shipping_rate_id_maps_to_the_one_method() -> None:
    result = plan([{"sku": "DENSERCISE-DVD", "quantity": 1}], address=US_ADDRESS)
    session = {"shipping_options": [{"shipping_amount": 595, "shipping_rate": "shr_a"}]}
    assert shipping_rate_ids(parse_session(session), result.shipping_method) == {
        "shr_a": "standard"
    }


def test_decided_on_the_exact_address() -> None:
    result = plan([{"sku": "BONE-APPETIT-BOOK", "quantity": 1}], {"country": "GB"})
    assert result.allowed_countries == ["GB"]
    assert isinstance(result.decision.destination if result.decision else None, Destination)
    assert result.decision is not None and result.decision.destination.line1 == "1 Main St"
