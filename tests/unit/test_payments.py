"""Re-screening at payment (pure) and event routing with an in-memory order store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bonestore.adapters.stripe_translation import parse_charge, parse_event, parse_session
from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import normalize_destination
from bonestore.domain.order import Order
from bonestore.domain.order_token import derive_order_token, token_matches
from bonestore.domain.payment import ShippingDetails
from bonestore.domain.rules import default_engine
from bonestore.service.checkout import CheckoutRequest, plan_checkout
from bonestore.service.payments import CustomerEmails, PaymentService, screen_payment
from tests.fakes import (
    MemoryGateway,
    MemoryOrders,
    MemoryPublisher,
    RecordingEmailSender,
    RecordingMetrics,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRODUCTS = {p.sku: p for p in seed_catalog()}
KEY = b"k" * 32
US = {"line1": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}  # fmt: skip


ADDRESS = {"name": "Jane", "line1": "1 Main St", "city": "Springfield", "subdivision": "IL",
           "postal_code": "62701", "country": "US"}  # fmt: skip


def plan_order(
    items: list[dict[str, Any]], address: dict[str, Any] | None, method: str | None = None
) -> Order:
    """An order as POST /checkout v2 stores it (address and method fixed)."""
    body: dict[str, Any] = {
        "items": items,
        "success_url": "https://a.example/",
        "cancel_url": "https://a.example/",
        "email": "jane@example.com",
    }
    if address is not None:
        body["shipping_address"] = address
    if method is not None:
        body["shipping_method"] = method
    plan = plan_checkout(
        CheckoutRequest.model_validate(body),
        PRODUCTS,
        engine=default_engine(),
        order_id="ord_1",
        now=NOW,
        expiry_minutes=30,
        destination=None,
        order_token=derive_order_token(KEY, "ord_1"),
    )
    return replace(
        plan.order,
        stripe_session_id="cs_1",
        shipping_rate_ids={"shr_std": plan.order.shipping_method.method_id}
        if plan.order.shipping_method
        else {},
        stock_state="reserved" if plan.order.stock_lines else "none",
    )


def make_order(items: list[dict[str, Any]], destination: dict[str, Any] | None) -> Order:
    """An order stored before v2: decided on a destination, the address collected by
    Stripe, every method offered there."""
    order = plan_order(items, ADDRESS if destination else None)
    dest = normalize_destination(destination) if destination else None
    return replace(
        order,
        destination=dest,
        shipping_address=None,
        shipping_method=None,
        shipping_rate_ids={"shr_std": "standard", "shr_exp": "express"},
    )


def session(
    order: Order,
    *,
    shipping: dict[str, Any] | None = None,
    billing: dict[str, Any] | None = None,
    rate: str | None = "shr_std",
    shipping_paid: int = 0,
    where: str = "collected",
) -> dict[str, Any]:
    subtotal = order.amount_subtotal.amount
    data: dict[str, Any] = {
        "id": "cs_1",
        "object": "checkout.session",
        "client_reference_id": order.order_id,
        "metadata": {"order_id": order.order_id},
        "amount_subtotal": subtotal,
        "amount_total": subtotal + shipping_paid,
        "currency": "usd",
        "payment_status": "paid",
        "payment_intent": "pi_1",
        "customer_details": {"email": "jane@example.com", "address": billing or shipping},
        "shipping_cost": {"amount_total": shipping_paid, "shipping_rate": rate} if rate else None,
    }
    details = {"name": "Jane", "address": shipping} if shipping else None
    if where == "collected":
        data["collected_information"] = {"shipping_details": details}
    else:
        data[where] = details
    return data


def screen(order: Order, data: dict[str, Any], engine: Any) -> Any:
    """The payment check on a session as Stripe sends it (through the translation)."""
    return screen_payment(order, parse_session(data), engine)


BOOK = [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}]
OSTEO = [{"sku": "TRUEOSTEO-120", "quantity": 1}]


@pytest.mark.parametrize("where", ["collected", "shipping_details", "shipping"])
def test_eligible_address_in_any_api_version(where: str) -> None:
    order = make_order(OSTEO, {"country": "US"})
    result = screen(
        order, session(order, shipping=US, shipping_paid=595, where=where), default_engine()
    )
    assert result.eligible, result.reasons
    assert result.shipping_method is not None and result.shipping_method.method_id == "standard"
    assert result.shipping_method.price.amount == 595
    assert result.shipping_address is not None
    assert result.shipping_address.subdivision == "US-IL"
    assert (result.shipping_address.name, result.shipping_address.line1) == ("Jane", "1 Main St")
    assert result.billing_country == "US"
    assert result.payment_intent_id == "pi_1"
    assert result.eligibility["ruleset_version"] == default_engine().version
    applied = result.applied_to(order)
    assert applied.shipping_address == result.shipping_address
    assert applied.amount_total.amount == order.amount_subtotal.amount + 595


def test_address_the_rules_refuse_is_held() -> None:
    order = make_order(OSTEO, {"country": "US"})
    canada = {**US, "state": "QC", "postal_code": "H2X 1Y4", "country": "CA"}
    result = screen(order, session(order, shipping=canada, shipping_paid=1495), default_engine())
    assert not result.eligible
    assert any(r["sku"] == "TRUEOSTEO-120" for r in result.reasons if "sku" in r)
    assert list(result.applied_to(order).hold_reasons) == result.reasons


def test_express_to_a_po_box_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    po_box = {**US, "line1": "PO Box 12"}
    result = screen(
        order, session(order, shipping=po_box, rate="shr_exp", shipping_paid=1995), default_engine()
    )
    assert [r["code"] for r in result.reasons] == ["shipping_method_unavailable"]


def test_express_surcharge_not_paid_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})  # quoted without the Hawaii surcharge
    hawaii = {**US, "state": "HI", "postal_code": "96813"}
    result = screen(
        order, session(order, shipping=hawaii, rate="shr_exp", shipping_paid=1995), default_engine()
    )
    assert [r["code"] for r in result.reasons] == ["shipping_underpaid"]


def test_embargoed_billing_country_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    cuba = {"line1": "Calle 1", "city": "Havana", "country": "CU"}
    result = screen(
        order, session(order, shipping=US, billing=cuba, shipping_paid=595), default_engine()
    )
    assert not result.eligible
    assert {r["code"] for r in result.reasons} == {"embargoed"}
    assert result.eligibility["billing"]["eligible"] is False


def test_billing_elsewhere_is_fine_when_not_embargoed() -> None:
    order = make_order(OSTEO, {"country": "US"})
    canada = {"line1": "1 Rue", "city": "Montreal", "country": "CA", "postal_code": "H2X1Y4"}
    result = screen(
        order, session(order, shipping=US, billing=canada, shipping_paid=595), default_engine()
    )
    assert result.eligible, result.reasons


def test_digital_only_screens_the_billing_address() -> None:
    order = make_order([{"sku": "ORP-EBOOK", "quantity": 1}], None)
    ok = screen(order, session(order, billing=US, rate=None), default_engine())
    assert ok.eligible and ok.eligibility["destination"]["country"] == "US"
    crimea = {"line1": "vul. 1", "city": "Simferopol", "postal_code": "95000", "country": "UA"}
    held = screen(order, session(order, billing=crimea, rate=None), default_engine())
    assert not held.eligible
    missing = screen(order, session(order, rate=None), default_engine())
    assert [r["code"] for r in missing.reasons] == ["no_billing_address"]


def test_amount_mismatch_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    paid = session(order, shipping=US, shipping_paid=595)
    paid["amount_subtotal"] = 1
    assert "amount_mismatch" in {r["code"] for r in screen(order, paid, default_engine()).reasons}


def test_references() -> None:
    assert parse_session({"client_reference_id": "ord_2"}).order_id == "ord_2"
    assert (
        parse_session({"metadata": {"order_id": "ord_3"}, "client_reference_id": "x"}).order_id
        == "ord_3"
    )
    assert parse_session({"metadata": {}}).order_id is None
    assert parse_charge({"metadata": {"order_id": "ord_4"}}).order_id == "ord_4"
    assert (
        parse_charge(
            {"metadata": {}, "refunds": {"data": [{"metadata": {"order_id": "ord_5"}}]}}
        ).order_id
        == "ord_5"
    )
    assert (
        parse_session({"collected_information": {"shipping_details": None}}).shipping_address
        is None
    )


@pytest.mark.parametrize(
    "garbage",
    [
        {"metadata": "ord_1"},
        {"metadata": {"order_id": 7}},
        {"customer_details": "jane"},
        {"customer_details": {"address": "Main St", "email": ["x"]}},
        {"collected_information": "x", "shipping_details": {"address": "1 Main"}},
        {"shipping_cost": {"amount_total": "595", "shipping_rate": {"id": 5}}},
        {"payment_intent": {"id": None}, "amount_total": 1.5, "currency": 3},
        {"shipping_options": "std", "total_details": []},
    ],
)
def test_wrong_types_in_a_session_read_as_absent(garbage: dict[str, Any]) -> None:
    parsed = parse_session({"id": "cs_1", **garbage})
    assert parsed.session_id == "cs_1"
    assert parsed.order_id is None or isinstance(parsed.order_id, str)
    assert parsed.billing_address is None and parsed.shipping_address is None
    assert isinstance(parsed.shipping_paid, int) and parsed.amount_total is None


def test_wrong_types_in_a_charge_read_as_absent() -> None:
    for refunds in ("re_1", ["re_1"], {"data": "x"}, {"data": ["x", {"metadata": "y"}]}):
        assert parse_charge({"id": "ch_1", "metadata": "x", "refunds": refunds}).order_id is None
    assert parse_charge({"refunded": "true"}).full is False


# -- the service over an in-memory repository ------------------------------------------


def service(
    orders: MemoryOrders,
    on_ineligible: str = "hold",
    sender: RecordingEmailSender | None = None,
    metrics: RecordingMetrics | None = None,
) -> tuple[PaymentService, MemoryPublisher, MemoryGateway]:
    publisher, gateway = MemoryPublisher(), MemoryGateway()
    emails = emails_to(sender) if sender is not None else None
    svc = PaymentService(
        orders,
        engine=default_engine,
        publisher=lambda: publisher,
        gateway=lambda: gateway,
        on_ineligible=on_ineligible,
        emails=emails,
        metrics=metrics or RecordingMetrics(),
    )
    return svc, publisher, gateway


def handle(svc: PaymentService, event: dict[str, Any]) -> dict[str, Any]:
    """As the webhook does: translate, then apply (an unreadable event is ignored)."""
    parsed = parse_event(event)
    return svc.apply(parsed) if parsed else {"action": "ignored_type"}


def event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {"id": event_id, "type": kind, "data": {"object": obj}}


def test_paid_then_duplicate_and_late_expiry() -> None:
    order = make_order(BOOK, {"country": "US"})
    orders = MemoryOrders(order)
    svc, publisher, _ = service(orders)
    paid = event("checkout.session.completed", session(order, shipping=US, shipping_paid=595))
    assert handle(svc, paid)["status"] == "paid"
    assert handle(svc, paid)["action"] == "recorded_only"
    expired = event(
        "checkout.session.expired", {"id": "cs_1", "metadata": {"order_id": "ord_1"}}, "evt_2"
    )
    assert handle(svc, expired)["status"] == "paid"
    assert publisher.paid == ["ord_1"]  # published once
    assert orders.items["ord_1"].status == "paid"


def test_ineligible_payment_refunds_when_configured() -> None:
    order = make_order(OSTEO, {"country": "US"})
    orders = MemoryOrders(order)
    metrics = RecordingMetrics()
    svc, publisher, gateway = service(orders, on_ineligible="refund", metrics=metrics)
    canada = {**US, "state": "QC", "postal_code": "H2X 1Y4", "country": "CA"}
    handle(
        svc,
        event("checkout.session.completed", session(order, shipping=canada, shipping_paid=1495)),
    )
    assert orders.items["ord_1"].status == "refunded"
    assert gateway.refunds == ["refund-ord_1"] and publisher.paid == []
    # Held at payment (refused in Canada), then refunded automatically.
    assert metrics.names()[:2] == ["OrdersHeld", "OrdersHeldByRule"]
    assert metrics.names()[2:] == ["OrdersRefunded"]


@pytest.mark.parametrize("gone", ["expired", "payment_failed"])
def test_payment_after_the_order_ended_is_refunded_once(gone: str) -> None:
    order = replace(make_order(BOOK, {"country": "US"}), status=gone, stock_state="released")
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders)
    paid = event("checkout.session.completed", session(order, shipping=US, shipping_paid=595))
    first = handle(svc, paid)
    assert (first["action"], first["status"]) == ("refunded_late_payment", "refunded")
    again = handle(svc, {**paid, "id": "evt_redelivered"})
    assert again["action"] == "recorded_only" and again["status"] == "refunded"
    stored = orders.items["ord_1"]
    assert gateway.refunds == ["refund-ord_1"] and publisher.paid == []
    assert stored.payment_intent_id == "pi_1" and stored.refund_id == "re_1"
    assert [e.type for e in stored.events][-3:] == [
        "checkout.session.completed",
        "late_payment_refunded",
        "checkout.session.completed",
    ]


def test_late_payment_without_a_payment_intent_is_recorded_for_support() -> None:
    order = replace(make_order(BOOK, {"country": "US"}), status="expired")
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders)
    data = {**session(order, shipping=US, shipping_paid=595), "payment_intent": None}
    result = handle(svc, event("checkout.session.completed", data))
    assert (result["action"], result["status"]) == ("recorded_only", "expired")
    assert gateway.refunds == [] and orders.items["ord_1"].status == "expired"


def test_other_events_and_strangers_are_ignored() -> None:
    svc, _, _ = service(MemoryOrders())
    assert handle(svc, event("customer.created", {}))["action"] == "ignored_type"
    for data in ("x", None, [1], {"object": "x"}, {}):
        malformed = {"id": "evt_m", "type": "checkout.session.completed", "data": data}
        assert handle(svc, malformed)["action"] == "ignored_type", data
    assert (
        handle(svc, event("checkout.session.completed", {"id": "cs_x"}))["action"]
        == "ignored_no_order"
    )
    unknown = event("checkout.session.completed", {"id": "cs_x", "client_reference_id": "ord_nope"})
    assert handle(svc, unknown)["action"] == "ignored_unknown_order"
    assert (
        handle(svc, event("charge.refunded", {"id": "ch_1", "metadata": {}}))["action"]
        == "ignored_unknown_order"
    )


# -- address-first orders (v2): the address and method were fixed at checkout ----------

FIXED = ShippingDetails(
    "Jane",
    {"line1": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701",
     "country": "US"},
)  # fmt: skip


def fixed_session(order: Order, *, billing: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A completed session for a fixed address: Checkout collected no shipping address."""
    paid = order.shipping_method.price.amount if order.shipping_method else 0
    data = session(order, billing=billing or US, shipping_paid=kw.pop("shipping_paid", paid), **kw)
    data["collected_information"] = {"shipping_details": None}
    return data


def test_fixed_address_reported_by_stripe_is_paid() -> None:
    order = plan_order(BOOK, ADDRESS)
    result = screen_payment(order, parse_session(fixed_session(order)), default_engine(),
                            reported=FIXED)  # fmt: skip
    assert result.eligible, result.reasons
    assert result.shipping_address == order.shipping_address
    assert result.eligibility["destination"]["line1"] == "1 Main St"


@pytest.mark.parametrize(
    ("reported", "code"),
    [
        (None, "no_shipping_address"),
        (ShippingDetails("Jane", {**FIXED.address, "line1": "2 Main St"}), "shipping_address_mismatch"),
        (ShippingDetails("Jane", {**FIXED.address, "country": "CA", "state": "ON",
                                  "postal_code": "K1A 0B1"}), "shipping_address_mismatch"),
        (ShippingDetails("Someone Else", FIXED.address), "shipping_address_mismatch"),
    ],
)  # fmt: skip
def test_any_other_address_reported_is_held(reported: ShippingDetails | None, code: str) -> None:
    order = plan_order(BOOK, ADDRESS)
    result = screen_payment(order, parse_session(fixed_session(order)), default_engine(),
                            reported=reported)  # fmt: skip
    assert not result.eligible
    assert code in [r["code"] for r in result.reasons]


def test_a_collected_address_other_than_the_fixed_one_is_held() -> None:
    order = plan_order(BOOK, ADDRESS)
    data = fixed_session(order)
    data["collected_information"] = {"shipping_details": {"name": "Jane", "address": {
        **FIXED.address, "state": "HI", "postal_code": "96813"}}}  # fmt: skip
    result = screen_payment(order, parse_session(data), default_engine(), reported=FIXED)
    assert [r["code"] for r in result.reasons] == ["shipping_address_mismatch"]


def test_shipping_paid_other_than_the_method_price_is_held() -> None:
    order = plan_order([{"sku": "DENSERCISE-DVD", "quantity": 1}], ADDRESS, "express")
    assert order.shipping_method is not None and order.shipping_method.price.amount > 0
    data = fixed_session(order, shipping_paid=order.shipping_method.price.amount - 1)
    result = screen_payment(order, parse_session(data), default_engine(), reported=FIXED)
    assert [r["code"] for r in result.reasons] == ["shipping_amount_mismatch"]


def test_billing_under_embargo_holds_a_fixed_address_order() -> None:
    order = plan_order(BOOK, ADDRESS)
    cuba = {"line1": "Calle 1", "city": "Havana", "country": "CU"}
    data = fixed_session(order, billing=cuba)
    result = screen_payment(order, parse_session(data), default_engine(), reported=FIXED)
    assert {r["code"] for r in result.reasons} == {"embargoed"}


def test_paid_and_held_emails_once_each_with_a_working_link() -> None:
    sender = RecordingEmailSender()
    paid_order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(paid_order)
    svc, _, gateway = service(orders, sender=sender)
    gateway.shipping["pi_1"] = FIXED
    completed = event("checkout.session.completed", fixed_session(paid_order))
    assert handle(svc, completed)["status"] == "paid"
    handle(svc, completed)  # a duplicate that got past idempotency
    (message,) = sender.sent
    assert message.kind == "order_paid" and message.to == "jane@example.com"
    fragment = message.text.split("/order#", 1)[1].split()[0]
    params = dict(part.split("=", 1) for part in fragment.split("&"))
    assert params["id"] == "ord_1"
    assert token_matches(params["token"], orders.items["ord_1"].order_token_hash)
    assert [e.detail["kind"] for e in orders.items["ord_1"].events if e.type == "email_sent"] == [
        "order_paid"
    ]

    held_sender = RecordingEmailSender()
    held = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(held)
    svc, _, gateway = service(orders, sender=held_sender)
    gateway.shipping["pi_1"] = FIXED
    cuba = {"line1": "Calle 1", "city": "Havana", "country": "CU"}
    handle(svc, event("checkout.session.completed", fixed_session(held, billing=cuba)))
    assert orders.items["ord_1"].status == "held"
    (message,) = held_sender.sent
    assert message.kind == "order_held"
    assert orders.items["ord_1"].hold_reasons[0]["message"] in message.text


def emails_to(sender: RecordingEmailSender) -> CustomerEmails:
    return CustomerEmails(
        lambda: sender, order_token_key=lambda: KEY, storefront_url=lambda: "https://shop.example"
    )


def paid_without_its_email_on_record() -> tuple[MemoryOrders, Order]:
    """A paid order whose paid email went, and the timeline a second caller read before
    the first recorded it (two deliveries at once)."""
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders, sender=RecordingEmailSender())
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    paid = orders.items["ord_1"]
    assert paid.status == "paid" and any(e.type == "email_sent" for e in paid.events)
    return orders, replace(paid, events=tuple(e for e in paid.events if e.type != "email_sent"))


def test_two_callers_at_once_send_one_email() -> None:
    orders, stale = paid_without_its_email_on_record()
    second = RecordingEmailSender()
    assert emails_to(second).notify(orders, stale, will_refund=False) is None
    assert second.sent == []


def test_a_claim_left_by_a_crash_lapses_and_the_email_goes() -> None:
    from bonestore.service.payments import EMAIL_CLAIM_LEASE_SECONDS

    orders, stale = paid_without_its_email_on_record()
    claimed = orders.email_claims[("ord_1", "order_paid")]
    orders.email_claims[("ord_1", "order_paid")] = claimed - EMAIL_CLAIM_LEASE_SECONDS - 1
    retry = RecordingEmailSender()
    assert emails_to(retry).notify(orders, stale, will_refund=False) == "order_paid"
    assert [m.kind for m in retry.sent] == ["order_paid"]


def test_a_failed_send_gives_the_claim_back_for_the_retry() -> None:
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders, sender=RecordingEmailSender(fail=RuntimeError("ses down")))
    gateway.shipping["pi_1"] = FIXED
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    retry = RecordingEmailSender()
    assert emails_to(retry).notify(orders, orders.items["ord_1"], will_refund=False) == "order_paid"
    assert [m.kind for m in retry.sent] == ["order_paid"]


def test_a_failed_email_keeps_the_transition_and_is_recorded() -> None:
    sender = RecordingEmailSender(fail=RuntimeError("ses down"))
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders, sender=sender)
    gateway.shipping["pi_1"] = FIXED
    result = handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert result["status"] == "paid" and publisher.paid == ["ord_1"]
    failed = [e for e in orders.items["ord_1"].events if e.type == "email_failed"]
    assert failed and failed[0].detail == {"kind": "order_paid", "error": "RuntimeError"}


def test_refund_on_ineligible_sends_held_then_refunded() -> None:
    sender = RecordingEmailSender()
    order = plan_order(BOOK, ADDRESS)
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders, on_ineligible="refund", sender=sender)
    gateway.shipping["pi_1"] = ShippingDetails("Jane", {**FIXED.address, "line1": "9 Elsewhere"})
    handle(svc, event("checkout.session.completed", fixed_session(order)))
    assert orders.items["ord_1"].status == "refunded"
    assert [m.kind for m in sender.sent] == ["order_held", "order_refunded"]
