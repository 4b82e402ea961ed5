"""Re-screening at payment (pure) and event routing with an in-memory order store."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import normalize_destination
from bonestore.domain.orders import STOCK_ON_ENTER, sources_of
from bonestore.domain.rules import default_engine
from bonestore.service.checkout import CheckoutRequest, plan_checkout
from bonestore.service.payments import (
    PaymentService,
    charge_order_id,
    collected_shipping,
    screen_payment,
    session_order_id,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRODUCTS = {p.sku: p for p in seed_catalog()}
US = {"line1": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}  # fmt: skip


def make_order(items: list[dict[str, Any]], destination: dict[str, Any] | None) -> dict[str, Any]:
    request = CheckoutRequest.model_validate(
        {"items": items, "success_url": "https://a.example/", "cancel_url": "https://a.example/"}
    )
    plan = plan_checkout(
        request,
        PRODUCTS,
        engine=default_engine(),
        order_id="ord_1",
        now=NOW,
        expiry_minutes=30,
        destination=normalize_destination(destination) if destination else None,
    )
    order = dict(plan.order)
    order["stripe_session_id"] = "cs_1"
    order["shipping_rate_ids"] = {"shr_std": "standard", "shr_exp": "express"}
    order["stock_state"] = "reserved" if order["stock_lines"] else "none"
    return order


def session(
    order: dict[str, Any],
    *,
    shipping: dict[str, Any] | None = None,
    billing: dict[str, Any] | None = None,
    rate: str | None = "shr_std",
    shipping_paid: int = 0,
    where: str = "collected",
) -> dict[str, Any]:
    subtotal = order["amount_subtotal"]["amount"]
    data: dict[str, Any] = {
        "id": "cs_1",
        "object": "checkout.session",
        "client_reference_id": order["order_id"],
        "metadata": {"order_id": order["order_id"]},
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


BOOK = [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}]
OSTEO = [{"sku": "TRUEOSTEO-120", "quantity": 1}]


@pytest.mark.parametrize("where", ["collected", "shipping_details", "shipping"])
def test_eligible_address_in_any_api_version(where: str) -> None:
    order = make_order(OSTEO, {"country": "US"})
    result = screen_payment(
        order, session(order, shipping=US, shipping_paid=595, where=where), default_engine()
    )
    assert result.eligible, result.reasons
    assert result.fields["shipping"]["method"] == "standard"
    assert result.fields["shipping_address"]["subdivision"] == "US-IL"
    assert result.fields["billing_country"] == "US"
    assert result.fields["payment_intent_id"] == "pi_1"
    assert result.fields["eligibility_at_payment"]["ruleset_version"] == default_engine().version


def test_address_the_rules_refuse_is_held() -> None:
    order = make_order(OSTEO, {"country": "US"})
    canada = {**US, "state": "QC", "postal_code": "H2X 1Y4", "country": "CA"}
    result = screen_payment(
        order, session(order, shipping=canada, shipping_paid=1495), default_engine()
    )
    assert not result.eligible
    assert any(r["sku"] == "TRUEOSTEO-120" for r in result.reasons if "sku" in r)
    assert result.fields["hold_reasons"] == result.reasons


def test_express_to_a_po_box_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    po_box = {**US, "line1": "PO Box 12"}
    result = screen_payment(
        order, session(order, shipping=po_box, rate="shr_exp", shipping_paid=1995), default_engine()
    )
    assert [r["code"] for r in result.reasons] == ["shipping_method_unavailable"]


def test_express_surcharge_not_paid_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})  # quoted without the Hawaii surcharge
    hawaii = {**US, "state": "HI", "postal_code": "96813"}
    result = screen_payment(
        order, session(order, shipping=hawaii, rate="shr_exp", shipping_paid=1995), default_engine()
    )
    assert [r["code"] for r in result.reasons] == ["shipping_underpaid"]


def test_embargoed_billing_country_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    cuba = {"line1": "Calle 1", "city": "Havana", "country": "CU"}
    result = screen_payment(
        order, session(order, shipping=US, billing=cuba, shipping_paid=595), default_engine()
    )
    assert not result.eligible
    assert {r["code"] for r in result.reasons} == {"embargoed"}
    assert result.fields["eligibility_at_payment"]["billing"]["eligible"] is False


def test_billing_elsewhere_is_fine_when_not_embargoed() -> None:
    order = make_order(OSTEO, {"country": "US"})
    canada = {"line1": "1 Rue", "city": "Montreal", "country": "CA", "postal_code": "H2X1Y4"}
    result = screen_payment(
        order, session(order, shipping=US, billing=canada, shipping_paid=595), default_engine()
    )
    assert result.eligible, result.reasons


def test_digital_only_screens_the_billing_address() -> None:
    order = make_order([{"sku": "ORP-EBOOK", "quantity": 1}], None)
    ok = screen_payment(order, session(order, billing=US, rate=None), default_engine())
    assert ok.eligible and ok.fields["eligibility_at_payment"]["destination"]["country"] == "US"
    crimea = {"line1": "vul. 1", "city": "Simferopol", "postal_code": "95000", "country": "UA"}
    held = screen_payment(order, session(order, billing=crimea, rate=None), default_engine())
    assert not held.eligible
    missing = screen_payment(order, session(order, rate=None), default_engine())
    assert [r["code"] for r in missing.reasons] == ["no_billing_address"]


def test_amount_mismatch_is_held() -> None:
    order = make_order(BOOK, {"country": "US"})
    paid = session(order, shipping=US, shipping_paid=595)
    paid["amount_subtotal"] = 1
    assert "amount_mismatch" in {
        r["code"] for r in screen_payment(order, paid, default_engine()).reasons
    }


def test_references() -> None:
    assert session_order_id({"client_reference_id": "ord_2"}) == "ord_2"
    assert (
        session_order_id({"metadata": {"order_id": "ord_3"}, "client_reference_id": "x"}) == "ord_3"
    )
    assert session_order_id({"metadata": {}}) is None
    assert charge_order_id({"metadata": {"order_id": "ord_4"}}) == "ord_4"
    assert (
        charge_order_id(
            {"metadata": {}, "refunds": {"data": [{"metadata": {"order_id": "ord_5"}}]}}
        )
        == "ord_5"
    )
    assert collected_shipping({"collected_information": {"shipping_details": None}}) is None


# -- the service over an in-memory repository ------------------------------------------


class MemoryOrders:
    """The OrderRepository's contract in memory: status moves only along the machine."""

    def __init__(self, *orders: dict[str, Any]) -> None:
        self.items = {o["order_id"]: copy.deepcopy(o) for o in orders}

    def get(self, order_id: str) -> dict[str, Any] | None:
        found = self.items.get(order_id)
        return copy.deepcopy(found) if found else None

    def transition(self, order_id: str, target: str, *, event: dict[str, Any], fields: dict[str, Any] | None = None, current: Any = None) -> dict[str, Any] | None:  # fmt: skip
        order = self.items[order_id]
        order.setdefault("events", []).append(event)
        if target not in STOCK_ON_ENTER or order["status"] not in sources_of(target):
            event["detail"]["ignored"] = True
            return None
        order.update(fields or {}, status=target)
        return copy.deepcopy(order)

    def record_event(self, order_id: str, event: dict[str, Any]) -> None:
        self.items[order_id].setdefault("events", []).append(event)

    def update_fields(self, order_id: str, fields: dict[str, Any], *, expected_status: str, event: Any = None, remove: Any = ()) -> None:  # fmt: skip
        assert self.items[order_id]["status"] == expected_status
        self.items[order_id].update(fields)
        if event:
            self.record_event(order_id, event)


class Publisher:
    def __init__(self) -> None:
        self.paid: list[str] = []

    def order_paid(self, order: dict[str, Any]) -> None:
        self.paid.append(order["order_id"])


class Gateway:
    def __init__(self) -> None:
        self.refunds: list[str] = []

    def refund(self, payment_intent_id: str, *, idempotency_key: str, metadata: dict[str, str]) -> dict[str, Any]:  # fmt: skip
        self.refunds.append(idempotency_key)
        return {"id": "re_1"}


def service(orders: MemoryOrders, on_ineligible: str = "hold") -> tuple[PaymentService, Publisher, Gateway]:  # fmt: skip
    publisher, gateway = Publisher(), Gateway()
    svc = PaymentService(
        orders,  # type: ignore[arg-type]
        engine=default_engine,
        publisher=lambda: publisher,
        gateway=lambda: gateway,
        on_ineligible=on_ineligible,
    )
    return svc, publisher, gateway


def event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {"id": event_id, "type": kind, "data": {"object": obj}}


def test_paid_then_duplicate_and_late_expiry() -> None:
    order = make_order(BOOK, {"country": "US"})
    orders = MemoryOrders(order)
    svc, publisher, _ = service(orders)
    paid = event("checkout.session.completed", session(order, shipping=US, shipping_paid=595))
    assert svc.handle(paid)["status"] == "paid"
    assert svc.handle(paid)["action"] == "recorded_only"
    expired = event(
        "checkout.session.expired", {"id": "cs_1", "metadata": {"order_id": "ord_1"}}, "evt_2"
    )
    assert svc.handle(expired)["status"] == "paid"
    assert publisher.paid == ["ord_1"]  # published once
    assert orders.items["ord_1"]["status"] == "paid"


def test_ineligible_payment_refunds_when_configured() -> None:
    order = make_order(OSTEO, {"country": "US"})
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders, on_ineligible="refund")
    canada = {**US, "state": "QC", "postal_code": "H2X 1Y4", "country": "CA"}
    svc.handle(
        event("checkout.session.completed", session(order, shipping=canada, shipping_paid=1495))
    )
    assert orders.items["ord_1"]["status"] == "refunded"
    assert gateway.refunds == ["refund-ord_1"] and publisher.paid == []


@pytest.mark.parametrize("gone", ["expired", "payment_failed"])
def test_payment_after_the_order_ended_is_refunded_once(gone: str) -> None:
    order = {**make_order(BOOK, {"country": "US"}), "status": gone, "stock_state": "released"}
    orders = MemoryOrders(order)
    svc, publisher, gateway = service(orders)
    paid = event("checkout.session.completed", session(order, shipping=US, shipping_paid=595))
    first = svc.handle(paid)
    assert (first["action"], first["status"]) == ("refunded_late_payment", "refunded")
    again = svc.handle({**paid, "id": "evt_redelivered"})
    assert again["action"] == "recorded_only" and again["status"] == "refunded"
    stored = orders.items["ord_1"]
    assert gateway.refunds == ["refund-ord_1"] and publisher.paid == []
    assert stored["payment_intent_id"] == "pi_1" and stored["refund_id"] == "re_1"
    assert [e["type"] for e in stored["events"]][-3:] == [
        "checkout.session.completed",
        "late_payment_refunded",
        "checkout.session.completed",
    ]


def test_late_payment_without_a_payment_intent_is_recorded_for_support() -> None:
    order = {**make_order(BOOK, {"country": "US"}), "status": "expired"}
    orders = MemoryOrders(order)
    svc, _, gateway = service(orders)
    data = {**session(order, shipping=US, shipping_paid=595), "payment_intent": None}
    result = svc.handle(event("checkout.session.completed", data))
    assert (result["action"], result["status"]) == ("recorded_only", "expired")
    assert gateway.refunds == [] and orders.items["ord_1"]["status"] == "expired"


def test_other_events_and_strangers_are_ignored() -> None:
    svc, _, _ = service(MemoryOrders())
    assert svc.handle(event("customer.created", {}))["action"] == "ignored_type"
    for data in ("x", None, [1], {"object": "x"}, {}):
        malformed = {"id": "evt_m", "type": "checkout.session.completed", "data": data}
        assert svc.handle(malformed)["action"] == "ignored_type", data
    assert (
        svc.handle(event("checkout.session.completed", {"id": "cs_x"}))["action"]
        == "ignored_no_order"
    )
    unknown = event("checkout.session.completed", {"id": "cs_x", "client_reference_id": "ord_nope"})
    assert svc.handle(unknown)["action"] == "ignored_unknown_order"
    assert (
        svc.handle(event("charge.refunded", {"id": "ch_1", "metadata": {}}))["action"]
        == "ignored_unknown_order"
    )
