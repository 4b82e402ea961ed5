"""Support's release and refund of held orders, over the in-memory fakes: the decision is
the payment check run again on the order's own address and billing country."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from bonestore.domain.errors import NotFound
from bonestore.domain.orders import InvalidTransition
from bonestore.domain.rules import Engine, default_engine
from bonestore.domain.rules.loader import parse_ruleset, read_ruleset_text
from bonestore.service.fulfilment import HANDED_OVER, Fulfilment, Shipments
from bonestore.service.payments import PaymentService
from bonestore.service.resolutions import (
    REFUNDED,
    RELEASED,
    StillNotShippable,
    SupportResolutions,
    screen_now,
)
from bonestore.service.support import order_view
from tests.fakes import MemoryGateway, MemoryOrders, MemoryPublisher, RecordingMetrics
from tests.unit.test_payments import BOOK, OSTEO, US, event, handle, make_order, session

pytestmark = pytest.mark.unit

CUBA = {"line1": "Calle 1", "city": "Havana", "country": "CU"}
CANADA = {**US, "state": "QC", "postal_code": "H2X 1Y4", "country": "CA"}
STOP_PHYSICAL_TO_US = """
- id: us-stop-physical
  effect: forbid
  when:
    destination: {countries: [US]}
    product: {kinds: [physical]}
  code: not_shipped_here
  message: We can't ship this to {country_name} right now.
  note: Added after payment, for the test.
  source: test ruleset
"""


def engine_without(rule_id: str) -> Engine:
    """The shipped ruleset with one rule taken out (as ops would remove it)."""
    ruleset, _ = parse_ruleset(read_ruleset_text()[0])
    kept = [rule for rule in ruleset.rules if rule.id != rule_id]
    return Engine(ruleset.model_copy(update={"rules": kept, "version": ruleset.version + "-x"}))


def engine_with(rules_yaml: str) -> Engine:
    """The shipped ruleset with more rules appended (a rule change after payment)."""
    text = read_ruleset_text()[0]
    added = textwrap.indent(rules_yaml.strip("\n"), "  ") + "\n"
    ruleset, _ = parse_ruleset(text.replace("\nrules:\n", "\nrules:\n" + added, 1))
    return Engine(ruleset)


class Setup:
    def __init__(self, engine: Engine | None = None) -> None:
        self.orders = MemoryOrders(stock={"BONE-APPETIT-BOOK": [10, 0], "TRUEOSTEO-120": [10, 0]})
        self.publisher, self.gateway = MemoryPublisher(), MemoryGateway()
        self.engine = engine or default_engine()
        self.payments = PaymentService(
            self.orders,
            engine=default_engine,
            publisher=lambda: self.publisher,
            gateway=lambda: self.gateway,
        )
        self.support = SupportResolutions(
            self.orders,
            engine=lambda: self.engine,
            gateway=lambda: self.gateway,
            follow_up=self.payments.follow_up,
        )

    def paid(self, items: list[dict[str, object]], **kwargs: object) -> str:
        """An order through checkout and the payment webhook; returns its id."""
        order = make_order(items, {"country": "US"})
        self.orders.create_with_reservation(order)
        handle(self.payments, event("checkout.session.completed", session(order, **kwargs)))  # type: ignore[arg-type]
        return order.order_id


def test_release_is_refused_while_the_billing_country_is_embargoed() -> None:
    s = Setup()
    order_id = s.paid(BOOK, shipping=US, billing=CUBA, shipping_paid=595)
    assert s.orders.items[order_id].status == "held"

    with pytest.raises(StillNotShippable) as refused:
        s.support.release(order_id, reason="customer asked", staff="sam")

    assert {r["code"] for r in refused.value.details or []} == {"embargoed"}
    assert s.orders.items[order_id].status == "held"
    assert s.publisher.paid == []


def test_release_once_the_rule_is_gone_pays_commits_stock_and_publishes() -> None:
    s = Setup()
    order_id = s.paid(BOOK, shipping=US, billing=CUBA, shipping_paid=595)
    assert s.orders.stock["BONE-APPETIT-BOOK"] == [9, 1]
    s.engine = engine_without("embargo-cuba")

    released = s.support.release(order_id, reason="embargo lifted", staff="sam")

    assert released.status == "paid"
    assert s.orders.stock["BONE-APPETIT-BOOK"] == [9, 0]  # sold: left the reserved counter
    assert s.publisher.paid == [order_id]
    entry = next(e for e in released.events if e.type == RELEASED)
    assert entry.detail["by"] == "sam" and entry.detail["reason"] == "embargo lifted"


def test_release_decides_on_the_address_paid_for_not_the_one_picked() -> None:
    s = Setup()
    order_id = s.paid(OSTEO, shipping=CANADA, shipping_paid=1495)  # picked US, shipped to CA
    order = s.orders.items[order_id]
    assert order.status == "held"
    assert screen_now(order, s.engine).eligible is False
    with pytest.raises(StillNotShippable):
        s.support.release(order_id, reason="try", staff="sam")


def test_refund_happens_once_however_often_asked() -> None:
    s = Setup()
    order_id = s.paid(BOOK, shipping=US, billing=CUBA, shipping_paid=595)

    first = s.support.refund(order_id, reason="embargoed", staff="sam")
    again = s.support.refund(order_id, reason="embargoed", staff="sam")

    assert first.status == again.status == "refunded"
    assert s.gateway.refunds == ["refund-" + order_id]
    assert s.orders.stock["BONE-APPETIT-BOOK"] == [10, 0]  # held stock back on sale
    entry = next(e for e in first.events if e.type == REFUNDED)
    assert entry.detail["by"] == "sam" and entry.detail["refund_id"] == first.refund_id


@pytest.mark.parametrize("move", ["release", "refund"])
def test_other_moves_are_invalid_transitions(move: str) -> None:
    s = Setup()
    pending = make_order(BOOK, {"country": "US"})
    s.orders.create_with_reservation(pending)
    with pytest.raises(InvalidTransition):
        getattr(s.support, move)(pending.order_id, reason="x", staff="sam")
    with pytest.raises(NotFound):
        getattr(s.support, move)("ord_missing", reason="x", staff="sam")
    assert s.gateway.refunds == []


def test_a_paid_order_is_not_released_and_a_refunded_one_not_released() -> None:
    s = Setup()
    paid_id = s.paid(BOOK, shipping=US, shipping_paid=595)
    with pytest.raises(InvalidTransition):
        s.support.release(paid_id, reason="x", staff="sam")
    assert s.support.refund(paid_id, reason="changed mind", staff="sam").status == "refunded"
    with pytest.raises(InvalidTransition):
        s.support.release(paid_id, reason="x", staff="sam")


def test_held_view_shows_the_address_billing_and_the_rules_note_and_source() -> None:
    s = Setup()
    order_id = s.paid(BOOK, shipping=US, billing=CUBA, shipping_paid=595)
    view = order_view(s.orders.items[order_id], s.engine, datetime.now(UTC))

    assert view["shipping_address"]["line1"] == "1 Main St"
    assert view["destination"]["country"] == "US" and view["billing_country"] == "CU"
    [reason] = view["hold"]["reasons"]
    assert reason["rule_id"] == "embargo-cuba"
    assert reason["source"].startswith("OFAC Cuba sanctions")
    assert "note" in reason and reason["message"]
    assert view["eligibility"]["now"]["eligible"] is False  # the billing country decides
    assert view["eligibility"]["now_differs"] is False


# -- fulfilment: the rules once more before the warehouse -------------------------------


def fulfilment(s: Setup, metrics: RecordingMetrics | None = None) -> Fulfilment:
    return Fulfilment(
        s.orders,
        engine=lambda: s.engine,
        publisher=lambda: s.publisher,
        metrics=metrics or RecordingMetrics(),
    )


def test_a_permitted_paid_order_is_handed_over_once() -> None:
    s = Setup()
    order_id = s.paid(BOOK, shipping=US, shipping_paid=595)
    assert fulfilment(s).hand_over(order_id).outcome == "handed_over"
    assert fulfilment(s).hand_over(order_id).outcome == "already_handed_over"  # duplicate message
    assert s.publisher.ready_to_ship == [order_id]
    assert [e.type for e in s.orders.items[order_id].events].count(HANDED_OVER) == 1


def test_a_rule_changed_since_payment_holds_the_order_naming_it() -> None:
    s = Setup()
    order_id = s.paid(OSTEO, shipping=US, shipping_paid=595)
    assert s.orders.items[order_id].status == "paid"
    s.engine = engine_with(STOP_PHYSICAL_TO_US)
    from bonestore.service.payments import CustomerEmails
    from tests.fakes import RecordingEmailSender

    metrics = RecordingMetrics()
    sender = RecordingEmailSender()
    emails = CustomerEmails(
        lambda: sender,
        order_token_key=lambda: b"k" * 32,
        storefront_url=lambda: "https://shop.example",
    )
    told = Fulfilment(
        s.orders,
        engine=lambda: s.engine,
        publisher=lambda: s.publisher,
        metrics=metrics,
        emails=emails,
    )

    result = told.hand_over(order_id)

    assert (result.outcome, result.rule_ids) == ("held", ("us-stop-physical",))
    assert metrics.counts == [
        ("FulfilmentRefused", None),
        ("OrdersHeld", None),
        ("OrdersHeldByRule", "us-stop-physical"),
    ]
    held = s.orders.items[order_id]
    assert held.status == "held" and held.hold_reasons[0]["rule_id"] == "us-stop-physical"
    assert s.publisher.ready_to_ship == []
    assert told.hand_over(order_id).outcome == "not_paid"
    # The customer is told once why (the rule's own words) and that support will write.
    (message,) = sender.sent
    assert message.kind == "order_held"
    assert "We can't ship this to United States right now." in message.text
    assert "support team" in message.text


def test_shipping_fulfils_a_paid_order_once() -> None:
    s = Setup()
    order_id = s.paid(BOOK, shipping=US, shipping_paid=595)
    f = Shipments(s.orders)
    shipped = f.ship(order_id, carrier="UPS", tracking_number="1Z999", staff="wes")
    assert shipped.status == "fulfilled"
    assert [(x.carrier, x.tracking_number) for x in shipped.shipments] == [("UPS", "1Z999")]
    assert f.ship(order_id, carrier="UPS", tracking_number="1Z999", staff="wes") == shipped
    with pytest.raises(InvalidTransition):
        f.ship(order_id, carrier="UPS", tracking_number="other", staff="wes")
