"""Carts as the contract defines them, and as the rules then see them.

api-contract: "A cart has 1 to 100 lines; a quantity is an integer from 1 to 999";
"Prices come from the catalog only; any price a client sends is ignored"; an unknown
product is `unknown_sku`; `at` is an optional point in time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from bonestore.domain.catalog import Product, product_of, seed_catalog
from bonestore.domain.errors import InvalidInput
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartLine, default_engine
from bonestore.service.carts import (
    MAX_LINES,
    MAX_QUANTITY,
    CartItemIn,
    DestinationIn,
    EligibilityRequest,
    cart_lines,
    decide_request,
    decision_time,
    destination_of,
    load_products,
)

pytestmark = pytest.mark.unit

SEED = {p.sku: p for p in seed_catalog()}


class FakeProducts:
    """The product table: stored items by SKU; records each round trip."""

    def __init__(self, products: Iterable[Product], inactive: Iterable[str] = ()) -> None:
        self.items = {p.sku: {**p.model_dump(mode="json"), "reserved": 3} for p in products}
        self.inactive = set(inactive)
        self.calls: list[list[str]] = []

    def get_many(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = list(skus)
        self.calls.append(wanted)
        return {s: self.items[s] for s in wanted if s in self.items and s not in self.inactive}


def request(items: list[dict[str, Any]], **rest: Any) -> EligibilityRequest:
    return EligibilityRequest.model_validate(
        {"destination": {"country": "US", "subdivision": "NY"}, "items": items, **rest}
    )


def test_the_contracts_limits() -> None:
    assert (MAX_LINES, MAX_QUANTITY) == (100, 999)


@pytest.mark.parametrize("quantity", [1, 2, 999])
def test_a_quantity_is_an_integer_from_1_to_999(quantity: int) -> None:
    assert CartItemIn(sku="X", quantity=quantity).quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, 1000, 1.0, 1.5, "1", True, None])
def test_any_other_quantity_is_refused(quantity: Any) -> None:
    with pytest.raises(ValidationError):
        CartItemIn.model_validate({"sku": "X", "quantity": quantity})


@pytest.mark.parametrize("sku", ["", "X" * 65])
def test_a_sku_is_1_to_64_characters(sku: str) -> None:
    with pytest.raises(ValidationError):
        CartItemIn(sku=sku, quantity=1)
    assert CartItemIn(sku="X" * 64, quantity=1).sku == "X" * 64


def test_a_price_or_name_the_client_echoes_is_ignored() -> None:
    item = CartItemIn.model_validate({"sku": "X", "quantity": 1, "price": 1, "name": "free"})
    assert item.model_dump() == {"sku": "X", "quantity": 1}


@pytest.mark.parametrize("lines", [1, MAX_LINES])
def test_a_cart_has_1_to_100_lines(lines: int) -> None:
    assert len(request([{"sku": "X", "quantity": 1}] * lines).items) == lines


@pytest.mark.parametrize("lines", [0, MAX_LINES + 1])
def test_an_empty_or_oversized_cart_is_refused(lines: int) -> None:
    with pytest.raises(ValidationError):
        request([{"sku": "X", "quantity": 1}] * lines)


def test_a_request_takes_no_unknown_fields_and_at_needs_a_time_zone() -> None:
    with pytest.raises(ValidationError):
        request([{"sku": "X", "quantity": 1}], coupon="FREE")
    with pytest.raises(ValidationError):
        request([{"sku": "X", "quantity": 1}], at="2026-01-31T00:00:00")
    at = request([{"sku": "X", "quantity": 1}], at="2026-01-31T01:00:00+01:00").at
    assert at == datetime(2026, 1, 31, tzinfo=UTC)


@pytest.mark.parametrize("at", [5, 1.5e9, "1700000000", "tomorrow", True])
def test_at_is_an_iso_8601_text_not_a_number_of_seconds(at: Any) -> None:
    """The contract writes ``at`` as "2026-01-31T00:00:00Z": pydantic's lax mode would read
    a number, or a text of digits, as Unix seconds, a time nobody asked for."""
    with pytest.raises(ValidationError, match="at must be an ISO 8601 time"):
        request([{"sku": "X", "quantity": 1}], at=at)


def test_at_given_as_null_is_no_time_like_no_at() -> None:
    assert request([{"sku": "X", "quantity": 1}], at=None).at is None


@pytest.mark.parametrize(
    ("field", "limit"),
    [("country", 64), ("subdivision", 64), ("postal_code", 32), ("city", 200), ("line1", 200)],
)
def test_destination_fields_have_length_limits(field: str, limit: int) -> None:
    base = {"country": "US"}
    DestinationIn.model_validate({**base, field: "x" * limit})
    with pytest.raises(ValidationError):
        DestinationIn.model_validate({**base, field: "x" * (limit + 1)})


def test_a_destination_takes_no_unknown_fields_and_needs_a_country() -> None:
    with pytest.raises(ValidationError):
        DestinationIn.model_validate({"country": "US", "planet": "Mars"})
    with pytest.raises(ValidationError):
        DestinationIn.model_validate({"country": ""})


def test_a_destination_is_normalized_and_errors_name_the_field_used() -> None:
    raw = DestinationIn(country="ca", subdivision="qc", postal_code="h2x1y4")
    assert destination_of(raw) == Destination(
        country="CA", subdivision="CA-QC", postal_code="H2X 1Y4"
    )
    with pytest.raises(InvalidInput) as info:
        destination_of(DestinationIn(country="ZZ"), field="shipping_address")
    assert info.value.details == [{"field": "shipping_address.country", "value": "ZZ"}]
    with pytest.raises(InvalidInput) as default_field:
        destination_of(DestinationIn(country="ZZ"))
    assert default_field.value.details == [{"field": "destination.country", "value": "ZZ"}]


def test_products_come_from_the_table_in_one_round_trip_normalized_and_deduplicated() -> None:
    table = FakeProducts(seed_catalog())
    found = load_products(table, [" trueosteo-120", "D3K2-60", "TRUEOSTEO-120 "])
    assert table.calls == [["TRUEOSTEO-120", "D3K2-60"]]
    assert found == {"TRUEOSTEO-120": SEED["TRUEOSTEO-120"], "D3K2-60": SEED["D3K2-60"]}


def test_a_stored_item_becomes_the_product_the_rules_match_on() -> None:
    stored = FakeProducts(seed_catalog()).items["RESTWELL-60"]
    assert "reserved" in stored  # table bookkeeping, not a product field
    assert product_of(stored) == SEED["RESTWELL-60"]


def test_one_unknown_product_is_named() -> None:
    with pytest.raises(InvalidInput) as info:
        load_products(FakeProducts(seed_catalog()), ["D3K2-60", "nope-1"])
    error = info.value
    assert (error.status, error.code) == (400, "unknown_sku")
    assert error.message == "Unknown product: NOPE-1."
    assert error.details == [{"field": "items", "sku": "NOPE-1"}]


def test_every_unknown_or_inactive_product_is_named() -> None:
    table = FakeProducts(seed_catalog(), inactive={"ORP-EBOOK"})
    with pytest.raises(InvalidInput) as info:
        load_products(table, ["ZZZ-1", "ORP-EBOOK", "D3K2-60", "ZZZ-1"])
    assert info.value.message == "Unknown products: ZZZ-1, ORP-EBOOK."
    assert info.value.details == [
        {"field": "items", "sku": "ZZZ-1"},
        {"field": "items", "sku": "ORP-EBOOK"},
    ]


def test_cart_lines_keep_the_clients_order_and_every_line() -> None:
    items = [
        CartItemIn(sku="d3k2-60", quantity=2),
        CartItemIn(sku="ORP-EBOOK", quantity=1),
        CartItemIn(sku="D3K2-60 ", quantity=5),
    ]
    products = {"D3K2-60": SEED["D3K2-60"], "ORP-EBOOK": SEED["ORP-EBOOK"]}
    assert cart_lines(items, products) == [
        CartLine(SEED["D3K2-60"], 2),
        CartLine(SEED["ORP-EBOOK"], 1),
        CartLine(SEED["D3K2-60"], 5),
    ]


def test_the_decision_time_is_the_requested_instant_in_utc_or_now() -> None:
    eastern = timezone(timedelta(hours=-5))
    at = decision_time(datetime(2026, 1, 30, 19, 0, tzinfo=eastern))
    assert at == datetime(2026, 1, 31, 0, 0, tzinfo=UTC) and at.tzinfo == UTC
    before = datetime.now(UTC)
    now = decision_time(None)
    assert before <= now <= datetime.now(UTC) and now.tzinfo == UTC


def test_a_cart_request_is_decided_by_the_rules_on_the_normalized_destination() -> None:
    table = FakeProducts(seed_catalog())
    decision = decide_request(
        EligibilityRequest.model_validate(
            {
                "destination": {"country": "ca", "subdivision": "qc"},
                "items": [
                    {"sku": "trueosteo-120", "quantity": 1},
                    {"sku": "ORP-EBOOK", "quantity": 1},
                ],
                "at": "2026-01-31T00:00:00Z",
            }
        ),
        table,
        default_engine(),
    )
    assert decision.destination == Destination(country="CA", subdivision="CA-QC")
    assert decision.at == datetime(2026, 1, 31, tzinfo=UTC)
    assert [(i.sku, i.eligible) for i in decision.items] == [
        ("TRUEOSTEO-120", False),  # Canada: no supplements (Health Canada NPN)
        ("ORP-EBOOK", True),
    ]
    assert decision.items[0].trace is None
    traced = decide_request(
        request([{"sku": "ORP-EBOOK", "quantity": 1}]), table, default_engine(), trace=True
    )
    assert traced.items[0].trace


def test_a_one_letter_country_is_left_to_the_country_check_not_the_shape_check() -> None:
    # The request model only bounds the length; whether it is a country is geo's answer,
    # so the client gets invalid_country naming the field, not a generic shape error.
    raw = DestinationIn(country="U")
    with pytest.raises(InvalidInput) as info:
        destination_of(raw)
    assert info.value.code == "invalid_country"
