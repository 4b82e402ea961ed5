"""The payment check (docs/api.md, "After payment ..."): a paid session is decided
again, and the order is held, never paid, for each reason the contract names. Each test
is named for the clause it pins."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bonestore import log_context
from bonestore.adapters.stripe_translation import parse_session
from bonestore.domain.order import Address, Order, OrderEvent, Shipment
from bonestore.domain.payment import ShippingDetails
from bonestore.domain.rules import Engine, default_engine, load_ruleset
from bonestore.service.payments import screen_payment
from tests.fakes import MemoryOrders, RecordingEmailSender, RecordingMetrics
from tests.unit.test_payments import (
    ADDRESS,
    BOOK,
    FIXED,
    US,
    emails_to,
    event,
    fixed_session,
    handle,
    make_order,
    plan_order,
    screen,
    service,
    session,
)

pytestmark = pytest.mark.unit

DVD = [{"sku": "DENSERCISE-DVD", "quantity": 1}]


def codes(result: object) -> list[str]:
    return [r["code"] for r in result.reasons]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ address-first orders


def test_the_fixed_address_matches_whatever_the_case_and_spacing_of_its_text() -> None:
    order = plan_order(BOOK, {**ADDRESS, "line2": "Apt 4"})
    reported = ShippingDetails(
        "  JANE ", {**FIXED.address, "line1": "1  MAIN st", "line2": "apt 4", "city": "springfield"}
    )
    result = screen_payment(
        order, parse_session(fixed_session(order)), default_engine(), reported=reported
    )
    assert result.eligible, result.reasons


def test_another_line2_than_the_fixed_one_is_a_mismatch() -> None:
    order = plan_order(BOOK, {**ADDRESS, "line2": "Apt 4"})
    reported = ShippingDetails("Jane", {**FIXED.address, "line2": "Apt 5"})
    result = screen_payment(
        order, parse_session(fixed_session(order)), default_engine(), reported=reported
    )
    assert codes(result) == ["shipping_address_mismatch"]
    assert result.reasons[0]["rule_id"] == "payment-check"


def test_a_reported_address_without_a_name_is_judged_on_the_address() -> None:
    order = plan_order(BOOK, ADDRESS)
    result = screen_payment(
        order,
        parse_session(fixed_session(order)),
        default_engine(),
        reported=ShippingDetails(None, FIXED.address),
    )
    assert result.eligible, result.reasons


def test_another_shipping_rate_than_the_chosen_method_is_held() -> None:
    order = plan_order(DVD, ADDRESS, "standard")
    order = replace(order, shipping_rate_ids={"shr_std": "standard", "shr_exp": "express"})
    result = screen_payment(
        order, parse_session(fixed_session(order, rate="shr_exp")), default_engine(), reported=FIXED
    )
    assert codes(result) == ["shipping_method_mismatch"]
    assert result.reasons[0]["message"] == (
        "Stripe charged for express shipping; standard was chosen."
    )


def test_the_shipping_amount_mismatch_names_both_amounts() -> None:
    order = plan_order(DVD, ADDRESS, "express")
    assert order.shipping_method is not None
    price = order.shipping_method.price.amount
    result = screen_payment(
        order,
        parse_session(fixed_session(order, shipping_paid=price + 1)),
        default_engine(),
        reported=FIXED,
    )
    assert codes(result) == ["shipping_amount_mismatch"]
    assert result.reasons[0]["message"] == (
        f"Express shipping costs {price}; Stripe charged {price + 1}."
    )


def test_a_method_the_rules_no_longer_offer_there_is_held(tmp_path: Path) -> None:
    order = plan_order(DVD, ADDRESS, "express")
    path = tmp_path / "ruleset.yaml"
    path.write_text(
        "schema_version: 1\n"
        "methods:\n  standard: {name: Standard shipping}\n  express: {name: Express shipping}\n"
        "rules:\n"
        "  - {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n"
        "  - {id: o-std, effect: offer_method, method: standard, "
        "price: {amount: 595, currency: USD}, code: offer, message: o, source: t}\n",
        encoding="utf-8",
    )
    now = Engine(load_ruleset(path))
    result = screen_payment(order, parse_session(fixed_session(order)), now, reported=FIXED)
    assert codes(result) == ["shipping_method_unavailable"]
    assert result.reasons[0]["message"] == "Express shipping no longer reaches this address."
    assert not result.eligible and result.eligibility["eligible"] is False


def test_an_order_the_rules_still_accept_keeps_its_fixed_address_and_method() -> None:
    order = plan_order(DVD, ADDRESS, "express")
    result = screen_payment(
        order, parse_session(fixed_session(order)), default_engine(), reported=FIXED
    )
    assert result.eligible and result.eligibility["eligible"] is True
    assert result.shipping_address == order.shipping_address
    assert result.shipping_method == order.shipping_method


# ------------------------------------------------------------------ every order


def test_goods_charged_at_another_amount_are_held_naming_both() -> None:
    order = make_order(BOOK, {"country": "US"})
    data = session(order, shipping=US, shipping_paid=595)
    data["amount_subtotal"] = order.amount_subtotal.amount + 1
    result = screen(order, data, default_engine())
    assert codes(result) == ["amount_mismatch"]
    assert result.reasons[0]["message"] == (
        f"Stripe charged {order.amount_subtotal.amount + 1} for goods priced "
        f"{order.amount_subtotal.amount}."
    )


def test_a_payment_in_another_currency_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    data = session(order, shipping=US, shipping_paid=595)
    data["currency"] = "eur"
    result = screen(order, data, default_engine())
    assert codes(result) == ["currency_mismatch"]
    assert result.reasons[0]["message"] == "Stripe charged in EUR."


def test_the_screening_records_the_billing_country_and_the_customers_email() -> None:
    order = replace(make_order(BOOK, {"country": "US"}), email=None)
    result = screen(order, session(order, shipping=US, shipping_paid=595), default_engine())
    applied = result.applied_to(order)
    assert (applied.billing_country, applied.email, applied.payment_intent_id) == (
        "US",
        "jane@example.com",
        "pi_1",
    )
    kept = result.applied_to(replace(order, email="first@example.com"))
    assert kept.email == "first@example.com"  # the checkout's email is never replaced


# ------------------------------------------------------------------ orders from before v2


def test_a_legacy_order_pays_the_one_method_offered_when_the_rate_is_unknown() -> None:
    order = replace(make_order(BOOK, {"country": "US"}), shipping_rate_ids={})
    data = session(order, shipping={**US, "line1": "PO Box 12"}, rate="shr_x", shipping_paid=595)
    result = screen(order, data, default_engine())
    assert result.eligible, result.reasons
    assert result.shipping_method is not None and result.shipping_method.method_id == "standard"


def test_a_legacy_order_paying_exactly_the_method_price_is_not_underpaid() -> None:
    order = make_order(BOOK, {"country": "US"})
    hawaii = {**US, "state": "HI", "postal_code": "96813"}
    paid = screen(order, session(order, shipping=hawaii, rate="shr_exp"), default_engine())
    price = next(m for m in paid.eligibility["shipping_methods"] if m["id"] == "express")
    exact = session(order, shipping=hawaii, rate="shr_exp", shipping_paid=price["price"]["amount"])
    assert screen(order, exact, default_engine()).eligible
    under = session(
        order, shipping=hawaii, rate="shr_exp", shipping_paid=price["price"]["amount"] - 1
    )
    held = screen(order, under, default_engine())
    assert codes(held) == ["shipping_underpaid"]
    assert held.reasons[0]["message"] == (
        f"Express shipping to this address costs {price['price']['amount']}; "
        f"{price['price']['amount'] - 1} was paid."
    )


def test_a_legacy_order_without_a_usable_shipping_address_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    result = screen(order, session(order, billing=US, shipping_paid=595), default_engine())
    assert codes(result) == ["no_shipping_address"]


# ------------------------------------------------------------------ rules changed by payment


def ruleset_engine(tmp_path: Path, rules: str) -> Engine:
    path = tmp_path / "ruleset.yaml"
    path.write_text(
        "schema_version: 1\n"
        "methods:\n  standard: {name: Standard shipping}\n  express: {name: Express shipping}\n"
        "rules:\n"
        "  - {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n" + rules,
        encoding="utf-8",
    )
    return Engine(load_ruleset(path))


STANDARD_595 = (
    "  - {id: o-std, effect: offer_method, method: standard, "
    "price: {amount: 595, currency: USD}, code: offer, message: o, source: t}\n"
)


def test_a_fixed_address_the_rules_refuse_by_payment_time_is_held_with_the_rules_reason(
    tmp_path: Path,
) -> None:
    order = plan_order(BOOK, ADDRESS)
    now = ruleset_engine(
        tmp_path,
        STANDARD_595 + "  - {id: f-books, effect: forbid, when: {product: {categories: [book]}}, "
        "code: no_books, message: No books now., source: t}\n",
    )
    result = screen_payment(order, parse_session(fixed_session(order)), now, reported=FIXED)
    assert not result.eligible
    assert [(r.get("sku"), r["rule_id"], r["code"]) for r in result.reasons] == [
        ("BONE-APPETIT-BOOK", "f-books", "no_books")
    ]


def test_a_digital_line_refused_in_the_billing_country_holds_the_order(tmp_path: Path) -> None:
    """Digital goods are delivered where the customer is billed: any refusal of a digital
    line there counts, not only an embargo."""
    order = make_order([*BOOK, {"sku": "ORP-EBOOK", "quantity": 1}], {"country": "US"})
    now = ruleset_engine(
        tmp_path,
        STANDARD_595 + "  - {id: f-digital-ca, effect: forbid, when: {destination: "
        "{countries: [CA]}, product: {kinds: [digital]}}, code: no_licence, message: n, "
        "source: t}\n",
    )
    canada = {"line1": "1 Rue", "city": "Montreal", "country": "CA", "postal_code": "H2X1Y4"}
    result = screen(order, session(order, shipping=US, billing=canada, shipping_paid=595), now)
    assert [(r.get("sku"), r["code"]) for r in result.reasons] == [("ORP-EBOOK", "no_licence")]


def test_a_legacy_order_where_no_method_reaches_the_address_is_held(tmp_path: Path) -> None:
    order = replace(make_order(BOOK, {"country": "US"}), shipping_rate_ids={})
    result = screen(order, session(order, shipping=US, rate="shr_x"), ruleset_engine(tmp_path, ""))
    assert codes(result) == ["shipping_method_unavailable"]
    assert result.reasons[0]["message"] == (
        "The shipping method chosen (unknown) does not reach this address."
    )


# ------------------------------------------------------------------ charge.refunded


def test_a_full_refund_moves_the_paid_order_to_refunded_and_a_partial_one_is_recorded() -> None:
    order = make_order(BOOK, {"country": "US"})
    orders = MemoryOrders(order)
    svc, _, _ = service(orders)
    handle(svc, event("checkout.session.completed", session(order, shipping=US, shipping_paid=595)))
    charge = {"id": "ch_1", "metadata": {"order_id": "ord_1"}, "amount_refunded": 100}
    partial = handle(svc, event("charge.refunded", {**charge, "refunded": False}, "evt_2"))
    assert (partial["action"], orders.items["ord_1"].status) == ("partial_refund_recorded", "paid")
    full = handle(svc, event("charge.refunded", {**charge, "refunded": True}, "evt_3"))
    assert (full["action"], orders.items["ord_1"].status) == ("moved_to_refunded", "refunded")


def test_a_refund_naming_no_order_is_ignored() -> None:
    svc, _, _ = service(MemoryOrders())
    answer = handle(svc, event("charge.refunded", {"id": "ch_1", "refunded": True}))
    assert answer["action"] == "ignored_unknown_order"


def test_a_legacy_order_with_an_unknown_rate_and_a_choice_of_methods_is_held() -> None:
    """Only when one method is offered can an unknown rate be read as that method."""
    order = replace(make_order(BOOK, {"country": "US"}), shipping_rate_ids={})
    data = session(order, shipping=US, rate="shr_x", shipping_paid=595)
    result = screen(order, data, default_engine())
    assert codes(result) == ["shipping_method_unavailable"]
    assert result.shipping_method is None


# ------------------------------------------------------------ delayed payment methods


def test_a_completed_checkout_not_yet_paid_keeps_its_stock_and_is_not_paid() -> None:
    """A bank debit completes the checkout before the money arrives: the order stays
    pending_payment, its stock held past the checkout's expiry, no email, nothing to ship."""
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    sender = RecordingEmailSender()
    svc, publisher, gateway = service(orders, sender=sender)
    gateway.shipping["pi_1"] = FIXED
    unpaid = {**fixed_session(order), "payment_status": "unpaid"}
    result = handle(svc, event("checkout.session.completed", unpaid))
    assert result["action"] == "awaiting_payment"
    stored = orders.items[order.order_id]
    assert (stored.status, stored.reservation) == ("pending_payment", "awaiting_payment")
    assert publisher.paid == [] and sender.sent == []


def test_the_delayed_payment_arriving_pays_the_order() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders)
    gateway.shipping["pi_1"] = FIXED
    unpaid = {**fixed_session(order), "payment_status": "unpaid"}
    handle(svc, event("checkout.session.completed", unpaid))
    arrived = event("checkout.session.async_payment_succeeded", fixed_session(order), "evt_2")
    assert handle(svc, arrived)["status"] == "paid"
    assert publisher.paid == [order.order_id]


# ----------------------------------------------------- the refund-on-ineligible policy

# The policy as it arrives in production: read from the environment, so a string that is
# equal to the literal "refund" but not the same object.
REFUND_FROM_THE_ENVIRONMENT = "".join(["re", "fund"])


def test_under_the_refund_policy_a_held_payment_is_refunded() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders, on_ineligible=REFUND_FROM_THE_ENVIRONMENT)
    gateway.shipping["pi_1"] = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert orders.items[order.order_id].status == "refunded"
    assert len(gateway.refunds) == 1  # refunded once, by Stripe


def test_under_the_refund_policy_the_held_email_promises_the_refund() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    sender = RecordingEmailSender()
    svc, _, gateway = service(orders, on_ineligible=REFUND_FROM_THE_ENVIRONMENT, sender=sender)
    gateway.shipping["pi_1"] = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    held = next(m for m in sender.sent if m.kind == "order_held")
    assert "We will refund your payment in full" in held.text


def test_under_the_hold_policy_the_held_email_promises_a_review() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    sender = RecordingEmailSender()
    svc, _, gateway = service(orders, sender=sender)
    gateway.shipping["pi_1"] = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    (held,) = sender.sent
    assert orders.items[order.order_id].status == "held"
    assert "will email you within one business day" in held.text


# ------------------------------------------------------------ the fixed address, field by field
# Stripe must report exactly the fixed address: any one field off (above or below it in
# any ordering) is a mismatch, whatever the other fields say.


def _mismatched(order_address: Address, reported: ShippingDetails) -> bool:
    order = replace(plan_order(BOOK, ADDRESS), shipping_address=order_address)
    result = screen_payment(
        order, parse_session(fixed_session(order)), default_engine(), reported=reported
    )
    return "shipping_address_mismatch" in codes(result)


FIXED_US = Address(country="US", name="Jane", line1="1 Main St", line2="Apt 4",
                   city="Springfield", subdivision="US-IL", postal_code="62701")  # fmt: skip
FIXED_FR = Address(country="FR", name="Jane", line1="1 Rue", city="Paris", postal_code="75001")
US_REPORTED = {**FIXED.address, "line2": "Apt 4"}
FR_REPORTED = {"line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "FR"}


def test_the_fixed_address_reported_back_exactly_is_no_mismatch() -> None:
    assert not _mismatched(FIXED_US, ShippingDetails("Jane", US_REPORTED))
    assert not _mismatched(FIXED_FR, ShippingDetails("Jane", FR_REPORTED))


@pytest.mark.parametrize(
    ("fixed", "reported"),
    [
        (FIXED_FR, ShippingDetails("Jane", {**FR_REPORTED, "country": "DE"})),
        (FIXED_FR, ShippingDetails("Jane", {**FR_REPORTED, "country": "IT"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "state": "IA"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "state": "IN"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "postal_code": "62700"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "postal_code": "62702"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "city": "Aurora"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "city": "Urbana"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "line1": "0 Main St"})),
        (FIXED_US, ShippingDetails("Jane", {**US_REPORTED, "line2": "Apt 3"})),
        (FIXED_US, ShippingDetails("Al", US_REPORTED)),
        (FIXED_US, ShippingDetails("Jane", {"line1": "1 Main St", "city": "Springfield"})),
    ],
    ids=["country-", "country+", "state-", "state+", "postal-", "postal+", "city-", "city+",
         "line1-", "line2-", "name-", "unusable"],
)  # fmt: skip
def test_any_one_field_of_the_fixed_address_reported_otherwise_is_a_mismatch(
    fixed: Address, reported: ShippingDetails
) -> None:
    assert _mismatched(fixed, reported)


def test_an_address_mismatch_is_one_reason_however_many_reports_differ() -> None:
    order = plan_order(BOOK, ADDRESS)
    data = fixed_session(order)
    data["collected_information"] = {"shipping_details": {"name": "Jane", "address": {
        **FIXED.address, "line1": "7 Other St"}}}  # fmt: skip
    other = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    result = screen_payment(order, parse_session(data), default_engine(), reported=other)
    assert codes(result) == ["shipping_address_mismatch"]


def test_a_method_refused_by_a_rule_is_held_in_that_rules_words(tmp_path: Path) -> None:
    order = plan_order(DVD, ADDRESS, "express")
    path = tmp_path / "ruleset.yaml"
    offer = "effect: offer_method, price: {amount: 595, currency: USD}, code: offer, message: o"
    refuse = "effect: restrict_method, code: method_unavailable"
    path.write_text(
        "schema_version: 1\n"
        "methods:\n  zeppelin: {name: Zeppelin}\n  airmail: {name: Airmail}\n"
        "  express: {name: Express shipping}\n"
        "rules:\n"
        "  - {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n"
        + "".join(
            f"  - {{id: o-{m}, method: {m}, {offer}, source: t}}\n"
            f"  - {{id: r-{m}, method: {m}, {refuse}, message: No {m} here., source: t}}\n"
            for m in ("zeppelin", "airmail", "express")
        ),
        encoding="utf-8",
    )
    result = screen_payment(
        order, parse_session(fixed_session(order)), Engine(load_ruleset(path)), reported=FIXED
    )
    assert codes(result) == ["shipping_method_unavailable"]
    assert result.reasons[0]["message"] == "No express here."


def test_a_fixed_method_paid_at_its_price_as_stripes_json_says_it_is_paid() -> None:
    order = plan_order(DVD, ADDRESS, "express")
    assert order.shipping_method is not None and order.shipping_method.price.amount > 256
    data = json.loads(json.dumps(fixed_session(order)))  # ints as a JSON body decodes them
    result = screen_payment(order, parse_session(data), default_engine(), reported=FIXED)
    assert result.eligible, result.reasons


# ------------------------------------------------------------ orders from before v2, continued


def test_a_legacy_order_keeps_the_address_method_and_total_stripe_collected() -> None:
    order = make_order(BOOK, {"country": "US"})
    apt = {**US, "line2": "Apt 4"}
    quoted = screen(order, session(order, shipping=apt, rate="shr_exp"), default_engine())
    express = next(m for m in quoted.eligibility["shipping_methods"] if m["id"] == "express")
    paid = express["price"]["amount"]
    result = screen(order, session(order, shipping=apt, rate="shr_exp", shipping_paid=paid),
                    default_engine())  # fmt: skip
    assert result.eligible, result.reasons
    assert result.shipping_address is not None and result.shipping_address.line2 == "Apt 4"
    applied = result.applied_to(order)
    assert applied.shipping_method is not None and applied.shipping_method.method_id == "express"
    assert applied.amount_total.amount == order.amount_subtotal.amount + paid


def test_a_legacy_order_without_recorded_rates_reads_them_from_the_sessions_options() -> None:
    """The checkout died before recording Stripe's rate ids: the session's options are in
    the order of the methods decided at checkout."""
    order = replace(make_order(BOOK, {"country": "US"}), shipping_rate_ids={})
    decided = [m["id"] for m in order.eligibility_at_checkout["shipping_methods"]]
    assert decided[:2] == ["standard", "express"]
    data = session(order, shipping=US, rate="shr_b", shipping_paid=100_000)
    data["shipping_options"] = [{"shipping_rate": "shr_a"}, {"shipping_rate": "shr_b"}]
    result = screen(order, data, default_engine())
    assert result.eligible, result.reasons
    assert result.shipping_method is not None and result.shipping_method.method_id == "express"


def test_a_legacy_order_paying_more_than_the_method_costs_is_not_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    result = screen(order, session(order, shipping=US, shipping_paid=10_000), default_engine())
    assert result.eligible, result.reasons


@pytest.mark.parametrize("currency", ["eur", "zar"])
def test_a_payment_in_any_other_currency_is_held(currency: str) -> None:
    order = make_order(BOOK, {"country": "US"})
    data = {**session(order, shipping=US, shipping_paid=595), "currency": currency}
    assert codes(screen(order, data, default_engine())) == ["currency_mismatch"]


# ------------------------------------------------------------ events as the webhook receives them


def as_read(value: str) -> str:
    """A string as storage or a JSON body hands it back: equal, never the same object."""
    copy: str = json.loads(json.dumps(value))
    return copy


def stored(order: Order) -> Order:
    return replace(order, status=as_read(order.status))


def delivered(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    """An event as Stripe's JSON body decodes (no string the same object as ours)."""
    parsed: dict[str, Any] = json.loads(json.dumps(event(kind, obj, event_id)))
    return parsed


def test_the_webhook_answer_says_the_event_was_received() -> None:
    svc, _, _ = service(MemoryOrders())
    for kind, obj in [
        ("checkout.session.completed", {"id": "cs_x"}),
        ("charge.refunded", {"id": "ch_1"}),
    ]:
        assert handle(svc, event(kind, obj))["received"] is True


@pytest.mark.parametrize("other", ["cs_0", "cs_2"])
def test_an_event_for_another_session_of_the_order_is_recorded_and_ignored(other: str) -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, publisher, _ = service(orders)
    answer = handle(
        svc, delivered("checkout.session.completed", {**fixed_session(order), "id": other})
    )
    assert answer["action"] == "ignored_session_mismatch"
    assert orders.items["ord_1"].status == "pending_payment" and publisher.paid == []
    assert orders.items["ord_1"].events[-1].detail["ignored"] == "session_mismatch"


@pytest.mark.parametrize(
    ("kind", "status"),
    [("checkout.session.expired", "expired"), ("checkout.session.async_payment_failed", "payment_failed")],
)  # fmt: skip
def test_an_expired_or_failed_checkout_ends_the_pending_order(kind: str, status: str) -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(stored(order))
    svc, _, _ = service(orders)
    answer = handle(svc, delivered(kind, {"id": "cs_1", "metadata": {"order_id": "ord_1"}}))
    assert (answer["action"], answer["status"]) == (f"moved_to_{status}", status)
    assert orders.items["ord_1"].status == status


def test_a_stored_pending_order_is_paid_and_an_unpaid_completion_keeps_its_payment() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(stored(order))
    svc, _, gateway = service(orders)
    gateway.shipping["pi_1"] = FIXED
    unpaid = {**fixed_session(order), "payment_status": "unpaid"}
    assert handle(svc, delivered("checkout.session.completed", unpaid))["action"] == (
        "awaiting_payment"
    )
    assert orders.items["ord_1"].payment_intent_id == "pi_1"  # support can refund it
    orders.items["ord_1"] = stored(orders.items["ord_1"])
    paid = delivered("checkout.session.async_payment_succeeded", fixed_session(order), "evt_2")
    assert handle(svc, paid)["status"] == "paid"


@pytest.mark.parametrize("status", ["expired", "refunded"])
def test_an_unpaid_completion_of_an_ended_order_only_joins_its_timeline(status: str) -> None:
    order = replace(plan_order(BOOK, ADDRESS), status=status, stock_state="released")
    orders = MemoryOrders(order)
    svc, _, _ = service(orders)
    unpaid = {**fixed_session(order), "payment_status": "unpaid"}
    answer = handle(svc, delivered("checkout.session.completed", unpaid))
    assert answer["action"] == "recorded_only"
    after = orders.items["ord_1"]
    assert (after.status, after.reservation) == (status, order.reservation)
    assert after.events[-1].detail["ignored"] is True


def test_a_held_payment_records_why_on_the_timeline() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders)
    gateway.shipping["pi_1"] = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    completed = next(
        e for e in orders.items["ord_1"].events if e.type == "checkout.session.completed"
    )
    assert completed.detail["eligible"] is False
    assert completed.detail["reasons"] == ["shipping_address_mismatch"]


def test_a_paid_order_counts_as_paid() -> None:
    order = plan_order(BOOK, ADDRESS)
    metrics = RecordingMetrics()
    svc, _, gateway = service(MemoryOrders(order), metrics=metrics)
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert metrics.names() == ["OrdersPaid"]


class ReadsBackMoves(MemoryOrders):
    """As the DynamoDB adapter: a move answers the order read back from storage."""

    def transition(
        self, current: Order, target: str, *, event: OrderEvent, updated: Order | None = None
    ) -> Order | None:
        moved = super().transition(current, target, event=event, updated=updated)
        return stored(moved) if moved is not None else None


def test_a_paid_order_read_back_from_storage_counts_as_paid() -> None:
    order = plan_order(BOOK, ADDRESS)
    metrics = RecordingMetrics()
    svc, _, gateway = service(ReadsBackMoves(order), metrics=metrics)
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert metrics.names() == ["OrdersPaid"]


def test_a_late_payment_is_marked_late_and_its_refund_automatic() -> None:
    order = replace(plan_order(BOOK, ADDRESS), status="expired", stock_state="released")
    orders = MemoryOrders(order)
    svc, _, _ = service(orders)
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    events = {e.type: e.detail for e in orders.items["ord_1"].events}
    assert events["checkout.session.completed"]["late_payment"] is True
    assert events["late_payment_refunded"]["automatic"] is True


def test_a_legacy_order_is_paid_without_asking_stripe_for_the_payments_shipping() -> None:
    order = make_order(BOOK, {"country": "US"})
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders)

    def unreachable(payment_intent_id: str) -> ShippingDetails | None:
        raise AssertionError("a legacy order's address is the one Checkout collected")

    gateway.payment_shipping = unreachable  # type: ignore[method-assign]
    paid = handle(
        svc, event("checkout.session.completed", session(order, shipping=US, shipping_paid=595))
    )
    assert paid["status"] == "paid"


def test_the_retried_event_of_a_paid_order_publishes_what_failed_to_publish() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders)
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    orders.items["ord_1"] = stored(replace(orders.items["ord_1"], order_paid_published_at=None))
    publisher.paid.clear()
    handle(svc, delivered("checkout.session.completed", fixed_session(order), "evt_2"))
    assert publisher.paid == ["ord_1"]
    assert orders.items["ord_1"].order_paid_published_at is not None


# ------------------------------------------------------------ the refund policy, continued


def test_under_the_refund_policy_the_answer_says_refunded() -> None:
    order = plan_order(BOOK, ADDRESS)
    svc, _, gateway = service(MemoryOrders(order), on_ineligible=REFUND_FROM_THE_ENVIRONMENT)
    gateway.shipping["pi_1"] = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    assert handle(svc, event("checkout.session.completed", fixed_session(order)))["status"] == (
        "refunded"
    )


@pytest.mark.parametrize("status", ["paid", "fulfilled"])
def test_under_the_refund_policy_a_repeated_payment_of_a_good_order_refunds_nothing(
    status: str,
) -> None:
    order = replace(plan_order(BOOK, ADDRESS), status=status, order_paid_published_at="x",
                    payment_intent_id="pi_1")  # fmt: skip
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders, on_ineligible=REFUND_FROM_THE_ENVIRONMENT)
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert gateway.refunds == [] and orders.items["ord_1"].status == status


def test_under_the_refund_policy_a_held_order_whose_refund_failed_is_refunded_on_retry() -> None:
    order = replace(plan_order(BOOK, ADDRESS), status=as_read("held"), payment_intent_id="pi_1")
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders, on_ineligible=REFUND_FROM_THE_ENVIRONMENT)
    gateway.shipping["pi_1"] = FIXED
    handle(svc, delivered("checkout.session.completed", fixed_session(order)))
    assert gateway.refunds == ["refund-ord_1"] and orders.items["ord_1"].status == "refunded"


def test_a_held_order_stays_held_when_its_payment_event_comes_again() -> None:
    """Only support releases a held order (docs/api.md): a redelivered or second
    payment event must not pay it."""
    order = replace(plan_order(BOOK, ADDRESS), status="held", payment_intent_id="pi_1")
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders)
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.async_payment_succeeded", fixed_session(order)))
    assert orders.items["ord_1"].status == "held" and publisher.paid == []
    assert orders.items["ord_1"].events[-1].detail["ignored"] is True


# ------------------------------------------------------------ the customer's emails
# docs/api.md: emailed when paid, held, refunded and shipped (carrier and tracking
# number), once each.


def shipped(*tracking: str) -> Order:
    return replace(
        plan_order(BOOK, ADDRESS),
        status="fulfilled",
        shipments=tuple(Shipment("UPS", t, "2026-03-02T10:00:00Z") for t in tracking),
    )


def test_the_shipped_email_names_the_latest_parcels_carrier_and_tracking_number() -> None:
    order = shipped("1Z0000000000000001", "1Z0000000000000002", "1Z0000000000000003")
    sender = RecordingEmailSender()
    assert emails_to(sender).notify(MemoryOrders(order), order, will_refund=False) == (
        "order_shipped"
    )
    (message,) = sender.sent
    assert "1Z0000000000000003" in message.text
    assert "1Z0000000000000001" not in message.text and "1Z0000000000000002" not in message.text


def test_a_fulfilled_order_without_a_shipment_is_not_emailed_yet() -> None:
    order = shipped()
    orders = MemoryOrders(order)
    sender = RecordingEmailSender()
    assert emails_to(sender).notify(orders, order, will_refund=False) is None
    assert sender.sent == [] and orders.items["ord_1"].events == order.events  # no failure


@pytest.mark.parametrize("status", ["pending_payment", "expired", "payment_failed"])
def test_a_status_that_calls_for_no_email_sends_none(status: str) -> None:
    order = replace(plan_order(BOOK, ADDRESS), status=status)
    sender = RecordingEmailSender()
    assert emails_to(sender).notify(MemoryOrders(order), order, will_refund=False) is None
    assert sender.sent == []


def test_an_email_on_the_timeline_as_storage_reads_it_is_never_sent_again() -> None:
    """Even once its claim is gone (lapsed, or another store): the timeline decides."""
    sent = OrderEvent(as_read("email_sent"), {"kind": as_read("order_paid"), "message_id": "m"})
    order = replace(plan_order(BOOK, ADDRESS), status="paid", events=(sent,))
    sender = RecordingEmailSender()
    assert emails_to(sender).notify(MemoryOrders(order), order, will_refund=False) is None
    assert sender.sent == []


def test_a_paid_order_later_held_gets_the_held_email_too() -> None:
    sent = OrderEvent("email_sent", {"kind": "order_paid", "message_id": "m"})
    order = replace(plan_order(BOOK, ADDRESS), status="held", events=(sent,))
    sender = RecordingEmailSender()
    assert emails_to(sender).notify(MemoryOrders(order), order, will_refund=False) == "order_held"


def test_a_claim_on_an_email_holds_for_two_minutes() -> None:
    order = replace(plan_order(BOOK, ADDRESS), status="paid")
    orders = MemoryOrders(order)
    now = int(time.time())
    orders.email_claims[("ord_1", "order_paid")] = now - 120
    sender = RecordingEmailSender()
    assert emails_to(sender).notify(orders, order, will_refund=False) is None
    orders.email_claims[("ord_1", "order_paid")] = now - 121
    assert emails_to(sender).notify(orders, order, will_refund=False) == "order_paid"


def test_an_order_whose_link_cannot_work_is_emailed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    order = replace(plan_order(BOOK, ADDRESS), status="paid")
    with caplog.at_level(logging.WARNING, logger="bonestore.service.payments"):
        emails_to(RecordingEmailSender()).notify(MemoryOrders(order), order, will_refund=False)
    assert "cannot be derived again" not in caplog.text
    other = replace(order, order_token_hash="not-this-orders-token")
    with caplog.at_level(logging.WARNING, logger="bonestore.service.payments"):
        kind = emails_to(RecordingEmailSender()).notify(
            MemoryOrders(other), other, will_refund=False
        )
    assert kind == "order_paid" and "ord_1: its token cannot be derived again" in caplog.text


# ------------------------------------------------------------ charge.refunded, continued


def test_a_full_refund_emails_the_customer_that_it_was_refunded() -> None:
    order = replace(plan_order(BOOK, ADDRESS), status="paid")
    sender = RecordingEmailSender()
    svc, _, _ = service(MemoryOrders(order), sender=sender)
    charge = {"id": "ch_1", "metadata": {"order_id": "ord_1"}, "amount_refunded": 100}
    handle(svc, event("charge.refunded", {**charge, "refunded": True}))
    assert [m.kind for m in sender.sent] == ["order_refunded"]


def test_a_refund_of_a_stored_refunded_order_sends_the_refund_email_still_missing() -> None:
    """Refunded elsewhere (support in Stripe's dashboard) and its email not on record."""
    order = replace(plan_order(BOOK, ADDRESS), status=as_read("refunded"))
    sender = RecordingEmailSender()
    svc, _, _ = service(MemoryOrders(order), sender=sender)
    charge = {"id": "ch_1", "metadata": {"order_id": "ord_1"}, "amount_refunded": 100}
    handle(svc, delivered("charge.refunded", {**charge, "refunded": True}))
    assert [m.kind for m in sender.sent] == ["order_refunded"]


def test_a_refund_binds_its_order_to_the_log_context() -> None:
    order = replace(plan_order(BOOK, ADDRESS), status="paid")
    svc, _, _ = service(MemoryOrders(order))
    log_context.reset()
    charge = {"id": "ch_1", "metadata": {"order_id": "ord_1"}, "refunded": False}
    handle(svc, event("charge.refunded", charge))
    assert log_context.current().get("order_id") == "ord_1"
    log_context.reset()


# ------------------------------------------------------------ races with another change


class FirstReadIsStale(MemoryOrders):
    """A store whose first read answers the order as it was before another writer moved it."""

    def __init__(self, before: Order, now: Order) -> None:
        super().__init__(now)
        self.before: Order | None = before

    def get(self, order_id: str) -> Order | None:
        stale, self.before = self.before, None
        return stale or super().get(order_id)


def test_an_unpaid_completion_racing_the_orders_expiry_is_recorded_only() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = FirstReadIsStale(order, replace(order, status="expired", stock_state="released"))
    svc, _, _ = service(orders)
    unpaid = {**fixed_session(order), "payment_status": "unpaid"}
    answer = handle(svc, event("checkout.session.completed", unpaid))
    assert answer["action"] == "recorded_only"
    assert orders.items["ord_1"].status == "expired"
    assert orders.items["ord_1"].reservation == order.reservation


def test_order_paid_published_as_the_order_left_paid_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    paid = replace(plan_order(BOOK, ADDRESS), status="paid", payment_intent_id="pi_1")
    orders = MemoryOrders(replace(paid, status="held"))  # fulfilment's re-check held it
    svc, publisher, _ = service(orders)
    with caplog.at_level(logging.WARNING, logger="bonestore.service.payments"):
        svc.follow_up(paid)
    assert publisher.paid == ["ord_1"]
    assert "ord_1 left paid before OrderPaid was recorded" in caplog.text
    assert orders.items["ord_1"].order_paid_published_at is None


def test_a_payment_racing_the_orders_expiry_is_refunded_as_a_late_payment() -> None:
    """The sweeper expired the order (its stock back on sale) between the webhook's read
    and its move to paid: the money is late, and goes back (docs/architecture.md, "Order lifecycle")."""
    order = plan_order(BOOK, ADDRESS)
    orders = FirstReadIsStale(order, replace(order, status="expired", stock_state="released"))
    svc, publisher, gateway = service(orders)
    gateway.shipping["pi_1"] = FIXED
    answer = handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert (answer["action"], answer["status"]) == ("refunded_late_payment", "refunded")
    assert gateway.refunds == ["refund-ord_1"] and publisher.paid == []


def test_a_payment_racing_its_own_duplicate_is_paid_and_never_refunded() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = FirstReadIsStale(order, replace(order, status="paid", stock_state="committed"))
    svc, _, gateway = service(orders)
    gateway.shipping["pi_1"] = FIXED
    answer = handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert answer["status"] == "paid"
    assert gateway.refunds == [] and orders.items["ord_1"].status == "paid"
