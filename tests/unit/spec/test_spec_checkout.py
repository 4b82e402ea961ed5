"""Checkout as the contract states it (docs/api.md, `POST /checkout`), through the pure
``plan_checkout`` and the ``CheckoutService`` use case over the in-memory fakes. Each test
is named for the clause it pins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bonestore.domain.catalog import Product, seed_catalog
from bonestore.domain.errors import InvalidInput, Unprocessable, UpstreamUnavailable
from bonestore.domain.rules import Engine, default_engine, load_ruleset
from bonestore.service.checkout import CheckoutPlan, CheckoutRequest, plan_checkout
from tests.fakes import MemoryGateway
from tests.unit.test_use_cases import CART, Once, checkout

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
SEED: dict[str, Product] = {p.sku: p for p in seed_catalog()}
US: dict[str, Any] = CART["shipping_address"]  # the use cases' address (Springfield, IL)


def plan(
    items: list[tuple[str, int]],
    address: dict[str, Any] | None = US,
    *,
    engine: Engine | None = None,
    products: dict[str, Product] = SEED,
    **extra: Any,
) -> CheckoutPlan:
    body: dict[str, Any] = {
        "items": [{"sku": sku, "quantity": qty} for sku, qty in items],
        "success_url": "https://shop.example.com/ok",
        "cancel_url": "https://shop.example.com/cart",
        **extra,
    }
    if address is not None:
        body["shipping_address"] = address
    return plan_checkout(
        CheckoutRequest.model_validate(body),
        products,
        engine=engine or default_engine(),
        order_id="ord_spec",
        now=NOW,
        expiry_minutes=30,
        destination=None,
        order_token="tok",
    )


def refusal(*args: Any, **kwargs: Any) -> Unprocessable | InvalidInput:
    with pytest.raises((Unprocessable, InvalidInput)) as caught:
        plan(*args, **kwargs)
    error = caught.value
    assert isinstance(error, Unprocessable | InvalidInput)
    return error


def engine_of(tmp_path: Path, rules: str) -> Engine:
    path = tmp_path / "ruleset.yaml"
    path.write_text(
        "schema_version: 1\n"
        "methods:\n  standard: {name: Standard shipping}\n  express: {name: Express shipping}\n"
        "rules:\n  - {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n" + rules,
        encoding="utf-8",
    )
    return Engine(load_ruleset(path))


# ------------------------------------------------------------------ 422 not_shippable


def test_not_shippable_names_the_refused_items_and_the_country_not_the_eligible_ones() -> None:
    address = {**US, "country": "CA", "subdivision": "ON", "postal_code": "K1A 0B1"}
    error = refusal([("BONE-APPETIT-BOOK", 1), ("TRUEOSTEO-120", 1)], address)
    assert (error.code, error.status) == ("not_shippable", 422)
    assert error.message == "Some items cannot ship to CA: TRUEOSTEO-120."
    assert [(d["sku"], d["eligible"]) for d in error.details or []] == [
        ("BONE-APPETIT-BOOK", True),
        ("TRUEOSTEO-120", False),
    ]


def test_not_shippable_when_no_shipping_method_reaches_the_address(tmp_path: Path) -> None:
    """Every line may go there, but no method is offered: the cart cannot ship."""
    error = refusal([("BONE-APPETIT-BOOK", 1)], engine=engine_of(tmp_path, ""))
    assert (error.code, error.status) == ("not_shippable", 422)
    assert error.message == "No shipping method reaches this address in US for this cart."
    assert [d["sku"] for d in error.details or []] == ["BONE-APPETIT-BOOK"]


# ------------------------------------------------------------------ the shipping method


def test_shipping_method_omitted_is_the_cheapest_the_rules_offer_there(tmp_path: Path) -> None:
    rules = (
        "  - {id: o-std, effect: offer_method, method: standard, price: {amount: 900, currency: USD}, code: offer, message: o, source: t}\n"
        "  - {id: o-exp, effect: offer_method, method: express, price: {amount: 700, currency: USD}, code: offer, message: o, source: t}\n"
    )
    chosen = plan([("BONE-APPETIT-BOOK", 1)], engine=engine_of(tmp_path, rules))
    assert chosen.shipping_method is not None
    assert (chosen.shipping_method.method_id, chosen.shipping_method.price.amount) == (
        "express",
        700,
    )
    # and the customer pays exactly that method, at that price
    assert chosen.order.amount_total.amount == SEED["BONE-APPETIT-BOOK"].price.amount + 700
    assert [o.method_id for o in chosen.session.shipping_options] == ["express"]


def test_a_method_the_rules_take_away_is_422_with_the_rules_sentence_and_what_is_offered() -> None:
    error = refusal(
        [("DENSERCISE-DVD", 1)], {**US, "line1": "PO Box 12"}, shipping_method="express"
    )
    assert (error.code, error.status) == ("shipping_method_unavailable", 422)
    assert error.message == "Express shipping isn't available to PO boxes. Offered here: standard."
    (detail,) = error.details or []
    assert detail["field"] == "shipping_method" and detail["method"] == "express"
    assert [r["message"] for r in detail["reasons"]] == [
        "Express shipping isn't available to PO boxes."
    ]
    assert [m["id"] for m in detail["offered"]] == ["standard"]


def test_a_method_never_offered_there_is_422_saying_so(tmp_path: Path) -> None:
    rules = "  - {id: o-std, effect: offer_method, method: standard, price: {amount: 500, currency: USD}, code: offer, message: o, source: t}\n"
    error = refusal(
        [("BONE-APPETIT-BOOK", 1)], engine=engine_of(tmp_path, rules), shipping_method="express"
    )
    assert error.code == "shipping_method_unavailable"
    assert error.message == (
        "Express shipping is not offered to this address. Offered here: standard."
    )
    assert (error.details or [{}])[0]["reasons"] == []


# ------------------------------------------------------------------ prices and totals


def test_the_total_is_the_catalog_subtotal_plus_the_method_price() -> None:
    result = plan([("DENSERCISE-DVD", 2), ("BONE-APPETIT-BOOK", 3)], shipping_method="express")
    subtotal = 2 * SEED["DENSERCISE-DVD"].price.amount + 3 * SEED["BONE-APPETIT-BOOK"].price.amount
    assert result.order.amount_subtotal.amount == subtotal
    assert result.shipping_method is not None
    assert result.order.amount_total.amount == subtotal + result.shipping_method.price.amount
    assert [(line.sku, line.quantity) for line in result.order.lines] == [
        ("DENSERCISE-DVD", 2),
        ("BONE-APPETIT-BOOK", 3),
    ]


def test_one_checkout_is_priced_in_one_currency() -> None:
    euro = SEED["BONE-APPETIT-BOOK"].model_copy(
        update={
            "sku": "EURO-BOOK",
            "price": SEED["BONE-APPETIT-BOOK"].price.model_copy(update={"currency": "EUR"}),
        }
    )
    error = refusal(
        [("BONE-APPETIT-BOOK", 1), ("EURO-BOOK", 1)], products={**SEED, "EURO-BOOK": euro}
    )
    assert (error.code, error.status) == ("mixed_currency", 400)


def test_merged_lines_may_reach_999_of_one_product_but_not_more() -> None:
    merged = plan([("ORP-EBOOK", 998), ("orp-ebook", 1)], address=None)
    assert [(line.sku, line.quantity) for line in merged.order.lines] == [("ORP-EBOOK", 999)]
    error = refusal([("ORP-EBOOK", 999), ("ORP-EBOOK", 1)], address=None)
    assert error.code == "invalid_quantity"
    assert error.details == [{"field": "items", "sku": "ORP-EBOOK"}]


def test_the_reservation_ends_a_margin_after_stripes_minimum_in_whole_seconds() -> None:
    result = plan([("ORP-EBOOK", 1)], address=None)
    assert result.expires_at == (NOW + timedelta(minutes=30, seconds=60)).replace(microsecond=0)
    assert result.session.expires_at == int(result.expires_at.timestamp())


# ------------------------------------------------------------------ the shipping address


def test_allowed_countries_is_the_address_country_for_goods_and_null_for_digital() -> None:
    assert plan([("BONE-APPETIT-BOOK", 1)]).allowed_countries == ["US"]
    digital = plan([("ORP-EBOOK", 1)], shipping_method="express")
    assert digital.allowed_countries is None
    assert digital.shipping_address is None and digital.shipping_method is None
    assert digital.order.amount_total == digital.order.amount_subtotal


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"subdivision": None}, "invalid_subdivision", "shipping_address.subdivision"),
        ({"postal_code": None}, "invalid_postal_code", "shipping_address.postal_code"),
        ({"name": "   "}, "invalid_address", "shipping_address.name"),
    ],
    ids=["us-needs-a-state", "us-needs-a-zip", "blank-name"],
)
def test_the_shipping_address_needs_the_parts_its_country_uses(
    change: dict[str, Any], code: str, field: str
) -> None:
    address = {k: v for k, v in {**US, **change}.items() if v is not None}
    error = refusal([("BONE-APPETIT-BOOK", 1)], address)
    assert (error.code, error.status) == (code, 400)
    assert (error.details or [{}])[0]["field"] == field


def test_a_country_without_states_or_zips_needs_neither() -> None:
    address = {"name": "A B", "line1": "1 Main St", "city": "Dublin", "country": "IE"}
    assert plan([("BONE-APPETIT-BOOK", 1)], address).allowed_countries == ["IE"]


def test_the_shipping_address_is_echoed_normalized() -> None:
    result = plan(
        [("BONE-APPETIT-BOOK", 1)],
        {**US, "name": "  Jane   Doe ", "line2": "  Apt  4 ", "subdivision": "il", "country": "us"},
    )
    assert result.shipping_address is not None
    echoed = result.shipping_address.as_json()
    assert (echoed["name"], echoed["line2"], echoed["subdivision"], echoed["country"]) == (
        "Jane Doe",
        "Apt 4",
        "US-IL",
        "US",
    )
    blank_line2 = plan([("BONE-APPETIT-BOOK", 1)], {**US, "line2": "   "})
    assert blank_line2.shipping_address is not None
    assert blank_line2.shipping_address.line2 is None


# ------------------------------------------------------------------ Idempotency-Key


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tkey"], ids=["empty", "256", "tab"])
def test_an_idempotency_key_is_1_to_255_printable_characters(key: str) -> None:
    service, orders = checkout(MemoryGateway())
    with pytest.raises(InvalidInput) as bad:
        service.create(CheckoutRequest.model_validate(CART), idempotency_key=key)
    assert (bad.value.code, bad.value.status) == ("invalid_idempotency_key", 400)
    assert orders.items == {}


@pytest.mark.parametrize("key", ["k", "k" * 255], ids=["1", "255"])
def test_an_idempotency_key_of_1_or_255_characters_is_accepted(key: str) -> None:
    once = Once()
    service, _ = checkout(MemoryGateway(), once)
    service.create(CheckoutRequest.model_validate(CART), idempotency_key=key)
    assert list(once.answers) == [key]


@pytest.mark.parametrize(
    ("methods", "wanted"),
    [(["standard", "express"], "express"), (["express", "standard"], "standard")],
    ids=["asked-for-the-second", "asked-for-the-second-other-order"],
)
def test_a_refused_method_is_explained_by_its_own_rules_not_another_methods(
    tmp_path: Path, methods: list[str], wanted: str
) -> None:
    """Both methods are taken away, each by its own rule; the refusal quotes the rule of
    the method asked for, whichever the ruleset lists first."""
    path = tmp_path / "ruleset.yaml"
    path.write_text(
        "schema_version: 1\nmethods:\n"
        + "".join(f"  {m}: {{name: {m.capitalize()} shipping}}\n" for m in methods)
        + "rules:\n  - {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n"
        + "".join(
            f"  - {{id: o-{m}, effect: offer_method, method: {m}, price: {{amount: 500, "
            f"currency: USD}}, code: offer, message: o, source: t}}\n"
            f"  - {{id: r-{m}, effect: restrict_method, method: {m}, code: no_{m}, "
            f"message: No {m} here., source: t}}\n"
            for m in methods
        ),
        encoding="utf-8",
    )
    error = refusal(
        [("BONE-APPETIT-BOOK", 1)], engine=Engine(load_ruleset(path)), shipping_method=wanted
    )
    assert error.message == f"No {wanted} here. Offered here: none."
    assert [r["rule_id"] for r in (error.details or [{}])[0]["reasons"]] == [f"r-{wanted}"]


def test_an_empty_country_is_refused_by_the_request_itself() -> None:
    body = {
        "items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
        "success_url": "https://shop.example.com/ok",
        "cancel_url": "https://shop.example.com/cart",
        "shipping_address": {**US, "country": ""},
    }
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate(body)


@pytest.mark.parametrize(
    ("field", "longest"), [("postal_code", 32), ("country", 64), ("name", 200)]
)
def test_address_fields_are_bounded_as_the_contract_says(field: str, longest: int) -> None:
    """A field at its maximum length reaches the address checks (which name what is wrong
    with it); one character more is refused by the request's own validation."""
    body = {
        "items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
        "success_url": "https://shop.example.com/ok",
        "cancel_url": "https://shop.example.com/cart",
    }
    CheckoutRequest.model_validate({**body, "shipping_address": {**US, field: "9" * longest}})
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate(
            {**body, "shipping_address": {**US, field: "9" * (longest + 1)}}
        )


def test_a_one_letter_country_reaches_the_address_check() -> None:
    error = refusal([("BONE-APPETIT-BOOK", 1)], {**US, "country": "U"})
    assert (error.code, error.status) == ("invalid_country", 400)


def test_when_stripe_fails_and_the_release_fails_too_the_stripe_error_still_answers() -> None:
    """The customer is told the provider failed (503, retry), not about our bookkeeping; the
    order stays pending and the sweeper releases it."""
    failure = UpstreamUnavailable("down", code="payment_provider_unavailable")
    service, orders = checkout(MemoryGateway(fail=failure))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("table unavailable")

    orders.transition = broken  # type: ignore[method-assign]
    with pytest.raises(UpstreamUnavailable):
        service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)
    (order,) = orders.items.values()
    assert order.status == "pending_payment"
