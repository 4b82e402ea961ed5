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
from bonestore.domain.errors import Conflict, InvalidInput, Unprocessable, UpstreamUnavailable
from bonestore.domain.rules import Engine, default_engine, load_ruleset
from bonestore.service.checkout import CheckoutPlan, CheckoutRequest, plan_checkout
from tests.fakes import (
    MemoryGateway,
    RecordingMetrics,
)
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


# ---------------------------------------------------------------- the request's bounds

BODY: dict[str, Any] = {
    "items": [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}],
    "success_url": "https://shop.example.com/ok",
    "cancel_url": "https://shop.example.com/cart",
}


def url_of_length(length: int) -> str:
    base = "https://shop.example.com/"
    return base + "p" * (length - len(base))


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
def test_a_return_url_is_8_to_2000_characters(field: str) -> None:
    for accepted in ("http://a", url_of_length(2000)):
        CheckoutRequest.model_validate({**BODY, field: accepted})
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate({**BODY, field: url_of_length(2001)})


def test_an_email_is_at_most_254_characters() -> None:
    domain = "@example.com"
    CheckoutRequest.model_validate({**BODY, "email": "j" * (254 - len(domain)) + domain})
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate({**BODY, "email": "j" * (255 - len(domain)) + domain})


@pytest.mark.parametrize(
    ("field", "longest"),
    [("line1", 200), ("line2", 200), ("city", 200), ("subdivision", 64)],
)
def test_the_other_address_fields_are_bounded_too(field: str, longest: int) -> None:
    CheckoutRequest.model_validate({**BODY, "shipping_address": {**US, field: "9" * longest}})
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate(
            {**BODY, "shipping_address": {**US, field: "9" * (longest + 1)}}
        )


@pytest.mark.parametrize("field", ["name", "line1", "city"])
def test_the_required_address_lines_may_be_one_character_but_not_empty(field: str) -> None:
    CheckoutRequest.model_validate({**BODY, "shipping_address": {**US, field: "X"}})
    with pytest.raises(ValidationError):
        CheckoutRequest.model_validate({**BODY, "shipping_address": {**US, field: ""}})


@pytest.mark.parametrize("field", ["line1", "city"])
def test_an_address_line_of_only_spaces_is_missing_and_named(field: str) -> None:
    error = refusal([("TRUEOSTEO-120", 1)], {**US, field: "   "})
    assert (error.code, error.details) == (
        "invalid_address",
        [{"field": f"shipping_address.{field}", "value": None}],
    )


# -------------------------------------------- which rules a refused checkout is counted by


def test_a_refused_cart_counts_the_rules_refusing_its_lines_not_those_of_the_others() -> None:
    from bonestore.service.checkout import refusing_rules_of

    refused = Unprocessable(
        "Some items cannot ship to CA: TRUEOSTEO-120.",
        code="not_shippable",
        details=[
            "not a line",
            {"field": "items"},
            {"sku": "ORP-EBOOK", "eligible": True, "reasons": [{"rule_id": "permit-all"}]},
            {"sku": "TRUEOSTEO-120", "eligible": False, "reasons": [{"rule_id": "ca-npn"}]},
            {"sku": "DVD", "eligible": False, "reasons": [{"rule_id": "ca-dvd"}]},
        ],
    )
    assert refusing_rules_of(refused) == ["ca-dvd", "ca-npn"]


def test_a_withdrawn_method_counts_the_rules_that_withdrew_it() -> None:
    from bonestore.service.checkout import refusing_rules_of

    withdrawn = Unprocessable(
        "No express to PO boxes.",
        code="shipping_method_unavailable",
        details=[{"field": "shipping_method", "method": "express",
                  "reasons": [{"rule_id": "no-express-po-box"}], "offered": []}],
    )  # fmt: skip
    assert refusing_rules_of(withdrawn) == ["no-express-po-box"]


def test_the_service_counts_a_refusal_by_each_refusing_rule() -> None:
    from bonestore.service import metrics as m

    metrics = RecordingMetrics()
    service, _ = checkout(MemoryGateway(), metrics=metrics)
    canada = {**US, "country": "CA", "subdivision": "QC", "postal_code": "H2X 1Y4",
              "city": "Montreal"}  # fmt: skip
    with pytest.raises(Unprocessable):
        service.create(
            CheckoutRequest.model_validate({**CART, "shipping_address": canada}),
            idempotency_key=None,
        )
    refused_by = [by for name, by in metrics.counts if name == m.CHECKOUT_REFUSED_BY_RULE]
    assert refused_by and all(by and "ca" in by.lower() for by in refused_by), metrics.counts


# ------------------------------------------------------------ the same cart, once open


def test_the_same_cart_and_email_while_its_checkout_is_open_is_that_checkout() -> None:
    gateway = MemoryGateway()
    service, _ = checkout(gateway)
    request = CheckoutRequest.model_validate(CART)
    first = service.create(request, idempotency_key=None, client_address="203.0.113.9")
    again = service.create(request, idempotency_key=None, client_address="198.51.100.7")
    assert again == first and len(gateway.sessions) == 1
    assert service.orders.stock["TRUEOSTEO-120"] == [8, 2]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    [
        {"shipping_address": {**US, "line1": "2 Main St"}},
        {"shipping_address": {**US, "postal_code": "62702"}},
        {"shipping_method": "express"},
        {"items": [{"sku": "TRUEOSTEO-120", "quantity": 1}, {"sku": "ORP-EBOOK", "quantity": 1}]},
    ],
    ids=["another line1", "another postal code", "another method", "other quantities"],
)
def test_another_address_method_or_lines_is_another_checkout(change: dict[str, Any]) -> None:
    gateway = MemoryGateway()
    service, _ = checkout(gateway)
    first = service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)
    other = service.create(CheckoutRequest.model_validate({**CART, **change}), idempotency_key=None)
    assert other["order_id"] != first["order_id"] and len(gateway.sessions) == 2


def test_a_digital_cart_holds_no_stock_so_a_repeat_is_a_new_checkout() -> None:
    """Reuse protects held stock; an ebook holds none, so a repeat opens its own session."""
    gateway = MemoryGateway()
    service, _ = checkout(gateway)
    ebook = CheckoutRequest.model_validate(
        {**BODY, "items": [{"sku": "ORP-EBOOK", "quantity": 1}], "email": "jane@example.com"}
    )
    first = service.create(ebook, idempotency_key=None)
    other = service.create(ebook, idempotency_key=None)
    assert other["order_id"] != first["order_id"] and len(gateway.sessions) == 2


def test_without_an_email_the_same_cart_is_a_new_checkout_each_time() -> None:
    """Reuse needs the customer's email: one address is many customers behind a NAT."""
    gateway = MemoryGateway()
    service, _ = checkout(gateway)
    anonymous = CheckoutRequest.model_validate({k: v for k, v in CART.items() if k != "email"})
    first = service.create(anonymous, idempotency_key=None, client_address="203.0.113.9")
    other = service.create(anonymous, idempotency_key=None, client_address="203.0.113.9")
    assert other["order_id"] != first["order_id"] and len(gateway.sessions) == 2


def test_the_same_cart_while_its_session_is_being_opened_is_409_retry_in_a_second() -> None:
    """The second of two requests at once finds the first's order without its Stripe
    session yet: it waits and retries, never opening a second session."""
    answers: list[Any] = []

    class SecondRequestMeanwhile(MemoryGateway):
        def create_checkout_session(self, request: Any, *, idempotency_key: str) -> Any:
            if not answers:
                try:
                    answers.append(service.create(same, idempotency_key=None))
                except Conflict as exc:
                    answers.append(exc)
            return super().create_checkout_session(request, idempotency_key=idempotency_key)

    gateway = SecondRequestMeanwhile()
    service, _ = checkout(gateway)
    same = CheckoutRequest.model_validate(CART)
    first = service.create(same, idempotency_key=None)
    (second,) = answers
    assert isinstance(second, Conflict), second
    assert (second.code, second.status, second.retry_after) == ("request_in_progress", 409, 1)
    assert len(gateway.sessions) == 1 and first["checkout_url"]


def test_when_the_session_cannot_be_recorded_the_checkout_still_answers() -> None:
    """Stripe's session exists and the order holds the stock: the customer pays, and the
    webhook finds the order by the session's metadata."""
    gateway = MemoryGateway()
    service, orders = checkout(gateway)

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("table unavailable")

    orders.save = unavailable  # type: ignore[method-assign]
    body = service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)
    assert body["checkout_url"] == "https://pay.example/cs_fake_1"
    assert orders.items[body["order_id"]].status == "pending_payment"


def test_the_answer_lists_the_methods_the_rules_offer_and_the_timeline_starts_eligible() -> None:
    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    body = service.create(CheckoutRequest.model_validate(CART), idempotency_key=None)
    assert {m["id"] for m in body["shipping_methods"]} >= {"standard"}
    (created,) = orders.items[body["order_id"]].events[:1]
    assert (created.type, created.detail["eligible"]) == ("checkout_created", True)


def test_a_digital_only_checkout_without_an_address_is_created() -> None:
    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    ebook = CheckoutRequest.model_validate({**BODY, "items": [{"sku": "ORP-EBOOK", "quantity": 1}]})
    body = service.create(ebook, idempotency_key=None)
    assert body["allowed_countries"] is None and body["shipping_address"] is None
    assert orders.items[body["order_id"]].destination is None
