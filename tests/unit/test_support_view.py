from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bonestore.adapters.orders import order_from_record
from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import normalize_destination
from bonestore.domain.rules import CartLine, default_engine
from bonestore.service.support import compare_decisions, explain
from bonestore.service.support import eligibility_view as typed_eligibility_view
from bonestore.service.support import order_view as typed_order_view

pytestmark = pytest.mark.unit

BEFORE_NPN = datetime(2013, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 1, 31, tzinfo=UTC)


def eligibility_view(stored, engine, at):
    """Support's view of a stored item, through the repository's translation."""
    return typed_eligibility_view(order_from_record(stored), engine, at)


def order_view(stored, engine, at):
    return typed_order_view(order_from_record(stored), engine, at)


def summary(stored):
    return order_from_record(stored).summary()


def product(sku):
    return next(p for p in seed_catalog() if p.sku == sku)


def stored_order(lines, destination, decided_at, *, paid=True):
    """An order item as checkout stores it (decisions made at ``decided_at``)."""
    engine = default_engine()
    dest = normalize_destination(destination)
    cart = [CartLine(product(sku), qty) for sku, qty in lines]
    decision = engine.decide(cart, dest, decided_at).to_json()
    items = []
    for sku, qty in lines:
        p = product(sku)
        items.append(
            {
                "sku": sku,
                "quantity": qty,
                "unit_price": p.price.as_json(),
                "line_total": p.price.times(qty).as_json(),
                "product": p.model_dump(mode="json"),
            }
        )
    total = sum(i["line_total"]["amount"] for i in items)
    return {
        "order_id": "ord_test",
        "status": "paid" if paid else "pending_payment",
        "created_at": "2013-01-15T00:00:00.000Z",
        "updated_at": "2013-01-15T00:01:00.000Z",
        "email": "Jane.Doe@Example.com",
        "email_lc": "jane.doe@example.com",
        "items": items,
        "currency": "USD",
        "amount_subtotal": {"amount": total, "currency": "USD"},
        "amount_total": {"amount": total, "currency": "USD"},
        "destination": dest.as_json(),
        "eligibility_at_checkout": decision,
        "eligibility_at_payment": decision if paid else None,
        "ruleset_version": decision["ruleset_version"],
        "stripe_session_id": "cs_test_1",
        "payment_intent_id": "pi_1",
        "events": [{"at": "2013-01-15T00:00:00.000Z", "type": "checkout_created", "detail": {}}],
    }


def test_order_paid_before_npn_rule_is_refused_now_and_names_the_rule():
    order = stored_order([("TRUEOSTEO-120", 1)], {"country": "ca"}, BEFORE_NPN)
    assert order["eligibility_at_checkout"]["eligible"] is True

    view = eligibility_view(order, default_engine(), NOW)

    assert view["now"]["eligible"] is False
    assert view["now_differs"] is True
    assert view["changed_by"] == ["ca-no-supplements-npn"]
    assert view["compared_with"] == "at_payment"
    [diff] = view["differences"]
    assert diff["sku"] == "TRUEOSTEO-120"
    assert diff["before"]["eligible"] is True
    assert diff["after"]["rule_ids"] == ["ca-no-supplements-npn"]
    assert "ca-no-supplements-npn" in view["summary"]
    # the why: every rule considered for the line, with its result
    trace = view["now"]["items"][0]["trace"]
    npn = next(step for step in trace if step["rule_id"] == "ca-no-supplements-npn")
    assert npn["result"] == "match"


def test_same_decision_now_does_not_differ():
    order = stored_order([("BONE-APPETIT-BOOK", 2)], {"country": "CA"}, BEFORE_NPN)
    view = eligibility_view(order, default_engine(), NOW)
    assert view["now"]["eligible"] is True
    assert view["now_differs"] is False
    assert view["changed_by"] == []


def test_pending_order_compares_with_checkout():
    order = stored_order([("TRUEOSTEO-120", 1)], {"country": "CA"}, BEFORE_NPN, paid=False)
    view = eligibility_view(order, default_engine(), NOW)
    assert view["at_payment"] is None
    assert view["compared_with"] == "at_checkout"
    assert view["now_differs"] is True


def test_limit_change_is_attributed_to_the_limit_rule():
    # AU: at most 90 days' supply; 30-day bottles -> max 3. Pretend checkout saw no limit.
    order = stored_order([("TRUEOSTEO-120", 2)], {"country": "AU"}, NOW)
    order["eligibility_at_payment"]["items"][0]["max_quantity"] = None
    view = eligibility_view(order, default_engine(), NOW)
    assert view["now_differs"] is True
    assert view["changed_by"] == ["au-three-months-supply"]


def test_order_view_has_the_contract_shape_and_money():
    order = stored_order([("TRUEOSTEO-120", 2)], {"country": "US", "subdivision": "NY"}, NOW)
    view = order_view(order, default_engine(), NOW)
    for key in (
        "order_id",
        "status",
        "email",
        "items",
        "amount_total",
        "destination",
        "stripe_session_id",
        "eligibility",
        "events",
    ):
        assert key in view
    assert view["amount_total"] == {"amount": 9990, "currency": "USD"}
    assert view["items"][0]["unit_price"] == {"amount": 4995, "currency": "USD"}
    assert set(view["eligibility"]) >= {
        "at_checkout",
        "at_payment",
        "now",
        "now_differs",
        "changed_by",
    }
    assert view["eligibility"]["now_differs"] is False


def test_dynamo_numbers_and_money_as_minor_units_are_read():
    order = stored_order([("D3K2-60", 1)], {"country": "US"}, NOW)
    order["amount_total"] = 2495
    order["items"][0]["product"]["attributes"]["ingredients"]["vitamin_d3"]["amount"] = Decimal(
        "5000.5"
    )
    view = order_view(order, default_engine(), NOW)
    assert view["amount_total"] == {"amount": 2495, "currency": "USD"}
    assert (
        view["items"][0]["product"]["attributes"]["ingredients"]["vitamin_d3"]["amount"] == 5000.5
    )
    assert view["eligibility"]["now"] is not None


def test_unreadable_snapshot_is_reported_not_raised():
    order = stored_order([("D3K2-60", 1)], {"country": "US"}, NOW)
    order["items"][0]["product"] = {"sku": "D3K2-60"}
    view = eligibility_view(order, default_engine(), NOW)
    assert view["now"] is None
    assert "cannot be read" in view["now_error"]


def test_digital_order_without_destination_has_no_now():
    order = stored_order([("ORP-EBOOK", 1)], {"country": "US"}, NOW)
    order["destination"] = None
    order["eligibility_at_checkout"] = None
    order["eligibility_at_payment"] = None
    view = eligibility_view(order, default_engine(), NOW)
    assert view["now"] is None
    assert view["now_error"]


def test_compare_reports_removed_lines_and_methods():
    before = {
        "eligible": True,
        "items": [{"sku": "A", "eligible": True, "max_quantity": None, "reasons": []}],
        "shipping_methods": [{"id": "standard"}, {"id": "express"}],
    }
    after = {"eligible": True, "items": [], "shipping_methods": [{"id": "standard"}]}
    result = compare_decisions(before, after)
    assert result["differs"] is True
    assert result["differences"][0]["after"] is None
    assert result["differences"][1]["shipping_methods"] == {
        "before": ["express", "standard"],
        "after": ["standard"],
    }


def test_summary_is_the_contract_order_summary():
    order = stored_order([("BONE-APPETIT-BOOK", 1)], {"country": "US"}, NOW)
    assert summary(order) == {
        "order_id": "ord_test",
        "status": "paid",
        "email": "Jane.Doe@Example.com",
        "created_at": "2013-01-15T00:00:00.000Z",
        "amount_total": order["amount_total"],
    }


def test_explain_lists_every_rule_considered_per_line():
    engine = default_engine()
    decision = engine.decide(
        [CartLine(product("TRUEOSTEO-120"), 1), CartLine(product("ORP-EBOOK"), 1)],
        normalize_destination({"country": "CA"}),
        NOW,
        trace=True,
    )
    body = explain(decision, engine)
    assert body["eligible"] is False
    assert "trace" not in body["items"][0]
    by_sku = {t["sku"]: t for t in body["trace"]}
    supplement = {step["rule_id"]: step["result"] for step in by_sku["TRUEOSTEO-120"]["rules"]}
    assert supplement["ca-no-supplements-npn"] == "match"
    assert supplement["zone-international-physical"] == "match"
    for step in by_sku["TRUEOSTEO-120"]["rules"]:
        assert set(step) == {"rule_id", "effect", "result", "detail"}
    assert by_sku["ORP-EBOOK"]["eligible"] is True
