"""The customer's order view (pure, over the in-memory order store)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bonestore.domain.errors import NotFound
from bonestore.domain.order import Shipment
from bonestore.domain.order_token import order_token_hash
from bonestore.service.customer_orders import customer_order, status_message
from tests.fakes import MemoryOrders
from tests.unit.test_payments import ADDRESS, BOOK, plan_order

pytestmark = pytest.mark.unit

ORDER = replace(plan_order(BOOK, ADDRESS), order_id="ord_0123456789ab0123456789abcdef", order_token_hash=order_token_hash("tok"))  # fmt: skip


def test_the_token_opens_the_order_and_nothing_else_does() -> None:
    orders = MemoryOrders(ORDER)
    view = customer_order(orders, ORDER.order_id, "tok")
    assert view["status"] == "pending_payment" and view["status_message"]
    assert view["shipping_address"]["subdivision"] == "US-IL"
    assert "email" not in view and "events" not in view
    refusals = []
    for order_id, token in (
        (ORDER.order_id, None),
        (ORDER.order_id, "tok "),
        (ORDER.order_id, ""),
        ("ord_ffffffffffffffffffffffffffff", "tok"),
        ("../etc", "tok"),
        (ORDER.order_id, "t" * 10_000),
    ):
        with pytest.raises(NotFound) as caught:
            customer_order(orders, order_id, token)
        refusals.append(caught.value.body())
    assert all(body == refusals[0] for body in refusals)
    assert refusals[0]["error"]["code"] == "order_not_found"
    legacy = replace(ORDER, order_token_hash=None)  # stored before tokens: opens for nobody
    with pytest.raises(NotFound):
        customer_order(MemoryOrders(legacy), legacy.order_id, "")


def test_every_status_has_a_sentence_for_the_customer() -> None:
    held = replace(ORDER, status="held", hold_reasons=({"code": "embargoed",
                   "message": "We can't accept orders billed to Cuba."},))  # fmt: skip
    assert "billed to Cuba" in status_message(held) and "refund" in status_message(held)
    # A sanction is not lifted by a review: no "go ahead after all" for it.
    assert "after all" not in status_message(held)
    reviewed = replace(held, hold_reasons=({"code": "not_shipped_here", "message": "No."},))
    assert "after all" in status_message(reviewed)
    shipped = replace(ORDER, status="fulfilled", shipments=(Shipment("UPS", "1Z999", "t"),))
    assert "1Z999" in status_message(shipped) and "UPS" in status_message(shipped)
    assert status_message(shipped).startswith("Your order shipped and")  # no date: none said
    dated = replace(shipped, shipments=(Shipment("UPS", "1Z999", "2026-12-01T23:02:10.123Z"),))
    assert status_message(dated).startswith("Your order shipped on 1 December 2026 and")
    for status in ("pending_payment", "paid", "payment_failed", "expired", "refunded"):
        assert status_message(replace(ORDER, status=status)).endswith(".")  # type: ignore[arg-type]
