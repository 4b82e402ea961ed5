"""``GET /orders/{order_id}``: the customer's own order, opened with its order token.

An unknown id and a wrong or missing token get the same 404 ``order_not_found``, after
the same work: the order is looked up and a token hash compared in constant time either
way (``bonestore.domain.order_token.token_matches``), so neither the answer nor its
timing tells which ids exist. ``status_message`` says, in the customer's words, what
happened and what happens next; a held order says why in the deciding rule's own
customer sentence.

Kept free of pydantic and the rules engine: this is a small function's cold path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bonestore.domain.errors import NotFound
from bonestore.domain.order_token import token_matches

if TYPE_CHECKING:
    from bonestore.domain.order import Order
    from bonestore.service.ports import OrderStore

SUPPORT_EMAIL = "support@bonestore.example"
# What new_order_id makes; anything else cannot be an order (and is not looked up).
ORDER_ID = re.compile(r"ord_[0-9a-f]{12,40}")
MAX_TOKEN_LENGTH = 256


def _money(amount: int, currency: str) -> str:
    from bonestore.service.notifications import format_money

    return format_money(amount, currency)


def shipped_day(at: str) -> str | None:
    """``2026-12-01T23:02:10Z`` -> ``1 December 2026`` (UTC); None when it is no timestamp."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return f"{moment.day} {moment.strftime('%B')} {moment.year}"


def status_message(order: Order) -> str:
    """One or two sentences for the customer about where their order stands."""
    status = order.status
    if status == "pending_payment":
        return (
            "We're waiting for your payment to be confirmed. This usually takes a few "
            "seconds (a bank debit can take a few days); we'll email you as soon as it is."
        )
    if status == "paid":
        if order.physical:
            return (
                "Your payment went through. We're packing your order and will email you "
                "the tracking number as soon as the parcel leaves our warehouse."
            )
        return (
            "Your payment went through. You'll get a separate email with access to your "
            "digital products."
        )
    if status == "held":
        from bonestore.domain.payment import is_embargoed

        reasons = list(
            dict.fromkeys(str(r.get("message")) for r in order.hold_reasons if r.get("message"))
        )
        why = " ".join(reasons) or "It does not meet our shipping rules."
        if is_embargoed(order):  # no review ships it after all
            return (
                f"Your payment went through, but we can't complete this order. {why} "
                "You don't need to do anything: our support team will refund you in full "
                f"within one business day. Questions? Write to {SUPPORT_EMAIL}."
            )
        yet = "ship this order" if order.physical else "complete this order"
        return (
            f"Your payment went through, but we can't {yet} yet. {why} "
            "You don't need to do anything: our support team will email you within one "
            "business day, either to go ahead after all or to refund you in full. "
            f"Questions? Write to {SUPPORT_EMAIL}."
        )
    if status == "payment_failed":
        return "Your payment didn't go through, and you were not charged."
    if status == "expired":
        return (
            "This checkout expired before it was paid. You were not charged, and the "
            "items went back on sale."
        )
    if status == "refunded":
        amount = _money(order.amount_total.amount, order.currency)
        return (
            f"We refunded {amount} to the card you paid with. Banks usually show it "
            "within 5–10 business days."
        )
    if status == "fulfilled":
        if not order.shipments:
            return "Your order shipped: it has left our warehouse."
        latest = order.shipments[-1]
        day = shipped_day(latest.at)
        on = f" on {day}" if day else ""
        return (
            f"Your order shipped{on} and is on its way with {latest.carrier}: tracking "
            f"number {latest.tracking_number}."
        )
    return "We have your order."


def customer_view(order: Order) -> dict[str, Any]:
    """The contract's answer: what the customer may see of their order (no timeline,
    no email, no decisions)."""
    return {
        "order_id": order.order_id,
        "status": order.status,
        "status_message": status_message(order),
        "items": [
            {
                "sku": line.sku,
                "name": str(line.product.get("name") or line.sku),
                "kind": line.kind,
                "quantity": line.quantity,
                "unit_price": line.unit_price.as_json(),
                "line_total": line.line_total.as_json(),
            }
            for line in order.lines
        ],
        "amount_subtotal": order.amount_subtotal.as_json(),
        "amount_total": order.amount_total.as_json(),
        "shipping_address": order.shipping_address.as_json() if order.shipping_address else None,
        "shipping_method": order.shipping_method.method_json() if order.shipping_method else None,
        "shipments": [
            {"carrier": s.carrier, "tracking_number": s.tracking_number, "at": s.at}
            for s in order.shipments
        ],
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def customer_order(orders: OrderStore, order_id: str, token: str | None) -> dict[str, Any]:
    """The order ``token`` opens; 404 ``order_not_found`` alike for every other case."""
    wanted = ORDER_ID.fullmatch(order_id or "") is not None
    order = orders.get(order_id) if wanted else None
    given = token if token is not None and len(token) <= MAX_TOKEN_LENGTH else None
    if not token_matches(given, order.order_token_hash if order is not None else None):
        raise NotFound("No order with this number and token.", code="order_not_found")
    assert order is not None
    return customer_view(order)
