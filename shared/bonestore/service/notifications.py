"""The emails a customer gets about an order: paid, held, refunded, shipped.

Pure builders (plain typed inputs in, an :class:`EmailMessage` out) and ``notify_*``
functions that build and send through an :class:`EmailSender`, so the code that
moves an order (payments, support, fulfilment) calls one function with what it has.

Every message links to the order page with the order id and token in the URL
*fragment* (``/order#id=...&token=...``): a fragment never reaches a server log or
a ``Referer`` header, and the page trades it for the order's status with
``GET /orders/{id}`` and ``X-Order-Token``. A message carries only what the
customer needs: what they bought, the total, where it goes (name, city, country:
enough to recognise it), what happens next, and how to reach us.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from bonestore.domain.email import EmailMessage
from bonestore.service.ports import EmailSender

if TYPE_CHECKING:
    from bonestore.domain.order import Order

STORE_NAME = "bonestore"
SUPPORT_EMAIL = "support@bonestore.example"

_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})


@dataclass(frozen=True)
class NoticeLine:
    name: str
    quantity: int
    amount: int  # the line's total, in minor units of the order's currency


@dataclass(frozen=True)
class ShipTo:
    """Enough of the address for the customer to recognise it (no street lines)."""

    name: str
    city: str | None
    country_name: str


@dataclass(frozen=True)
class OrderNotice:
    """What every order email needs to know about the order."""

    order_id: str
    order_token: str
    email: str
    currency: str
    amount_total: int  # minor units
    items: Sequence[NoticeLine] = field(default_factory=tuple)
    ship_to: ShipTo | None = None  # None: nothing physical (digital-only order)
    shipping_method: str | None = None  # "Standard", "Express"


def notice_for(order: Order, order_token: str) -> OrderNotice | None:
    """What the emails say about ``order``; None when it has no email address."""
    if not order.email:
        return None
    ship_to = None
    if order.shipping_address is not None:
        from bonestore.domain.countries import country_name

        address = order.shipping_address
        ship_to = ShipTo(address.name or "", address.city, country_name(address.country))
    return OrderNotice(
        order_id=order.order_id,
        order_token=order_token,
        email=order.email,
        currency=order.currency,
        amount_total=order.amount_total.amount,
        items=tuple(
            NoticeLine(
                str(line.product.get("name") or line.sku), line.quantity, line.line_total.amount
            )
            for line in order.lines
        ),
        ship_to=ship_to,
        shipping_method=order.shipping_method.name if order.shipping_method else None,
    )


def format_money(amount: int, currency: str) -> str:
    """``4995, "USD"`` -> ``$49.95``; a currency without a symbol keeps its code."""
    code = currency.upper()
    whole = code in _ZERO_DECIMAL
    number = f"{amount:,}" if whole else f"{amount // 100:,}.{amount % 100:02d}"
    symbol = _SYMBOLS.get(code)
    return f"{symbol}{number}" if symbol else f"{number} {code}"


def order_link(storefront_url: str, order_id: str, order_token: str) -> str:
    """The order page, with the id and token in the fragment (never sent to a server)."""
    base = storefront_url.rstrip("/")
    return f"{base}/order#id={quote(order_id, safe='')}&token={quote(order_token, safe='')}"


@dataclass(frozen=True)
class _Body:
    """A message's content once, rendered to text and HTML alike."""

    heading: str
    paragraphs: Sequence[str]
    bullets: Sequence[str] = ()
    details: Sequence[str] = ()


def _render(notice: OrderNotice, subject: str, body: _Body, link: str, kind: str) -> EmailMessage:
    summary = [
        f"{line.quantity} × {line.name}: {format_money(line.amount, notice.currency)}"
        for line in notice.items
    ]
    summary.append(f"Total: {format_money(notice.amount_total, notice.currency)}")
    if notice.ship_to is not None:
        where = ", ".join(p for p in (notice.ship_to.city, notice.ship_to.country_name) if p)
        method = f" ({notice.shipping_method})" if notice.shipping_method else ""
        summary.append(f"Ships to: {notice.ship_to.name}, {where}{method}")

    text_parts = [body.heading, "", *body.paragraphs]
    if body.bullets:
        text_parts += ["", *(f"- {bullet}" for bullet in body.bullets)]
    text_parts += ["", *body.details] if body.details else []
    text_parts += ["", f"Order {notice.order_id}", *summary, ""]
    text_parts += [f"See your order: {link}", "", f"Questions? Write to {SUPPORT_EMAIL}."]
    text = "\n".join(text_parts) + "\n"

    e = html.escape
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(subject)}</title></head><body>",
        f"<h1>{e(body.heading)}</h1>",
        *(f"<p>{e(paragraph)}</p>" for paragraph in body.paragraphs),
    ]
    if body.bullets:
        parts.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in body.bullets) + "</ul>")
    parts += [f"<p>{e(detail)}</p>" for detail in body.details]
    parts.append(f"<h2>Order {e(notice.order_id)}</h2>")
    parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in summary) + "</ul>")
    parts.append(f'<p><a href="{e(link)}">See your order</a></p>')
    parts.append(
        f'<p>Questions? Write to <a href="mailto:{e(SUPPORT_EMAIL)}">{e(SUPPORT_EMAIL)}</a>.</p>'
    )
    parts.append("</body></html>")
    return EmailMessage(to=notice.email, subject=subject, text=text, html="".join(parts), kind=kind)


def order_paid_email(notice: OrderNotice, storefront_url: str) -> EmailMessage:
    physical = notice.ship_to is not None
    next_step = (
        "We are packing your order now. You will get another email with the tracking "
        "number as soon as the parcel leaves our warehouse."
        if physical
        else "You will get a separate email with access to your digital products."
    )
    body = _Body(
        heading="Thank you: your payment went through",
        paragraphs=[next_step],
    )
    link = order_link(storefront_url, notice.order_id, notice.order_token)
    return _render(notice, f"Order {notice.order_id}: payment received", body, link, "order_paid")


def order_held_email(
    notice: OrderNotice,
    reasons: Sequence[str],
    storefront_url: str,
    *,
    will_refund: bool,
    embargoed: bool = False,
) -> EmailMessage:
    """Paid but may not ship. ``reasons``: the rules' customer-facing messages;
    ``embargoed``: one of them is a sanction, which no review ships after all."""
    what_next = (
        "We will refund your payment in full; you will get an email when the refund is "
        "on its way (banks usually show it within 5–10 business days)."
        if will_refund
        else "Sanctions don't let us complete this order, so our support team will refund "
        "your payment in full within one business day; you will get an email when the "
        "refund is on its way."
        if embargoed
        else "Our support team is reviewing your order and will email you within one "
        "business day: either we can ship it after all, or we refund you in full."
    )
    physical = notice.ship_to is not None
    body = _Body(
        heading="We received your payment, but cannot ship your order yet"
        if physical and not embargoed
        else "We received your payment, but cannot complete your order",
        paragraphs=["Your order is on hold for this reason:"],
        bullets=list(dict.fromkeys(reasons)) or ["It does not meet our shipping rules."],
        details=[what_next, "You do not need to do anything."],
    )
    link = order_link(storefront_url, notice.order_id, notice.order_token)
    return _render(notice, f"Order {notice.order_id} is on hold", body, link, "order_held")


def order_refunded_email(
    notice: OrderNotice, amount_refunded: int, storefront_url: str
) -> EmailMessage:
    amount = format_money(amount_refunded, notice.currency)
    body = _Body(
        heading=f"We refunded {amount}",
        paragraphs=[
            f"We refunded {amount} to the card you paid with. Banks usually show it "
            "within 5–10 business days.",
        ],
    )
    link = order_link(storefront_url, notice.order_id, notice.order_token)
    return _render(notice, f"Order {notice.order_id}: refunded", body, link, "order_refunded")


def order_shipped_email(
    notice: OrderNotice, carrier: str, tracking_number: str, storefront_url: str
) -> EmailMessage:
    body = _Body(
        heading="Your order is on its way",
        paragraphs=[f"Your parcel left our warehouse with {carrier}."],
        details=[f"Tracking number: {tracking_number}"],
    )
    link = order_link(storefront_url, notice.order_id, notice.order_token)
    return _render(notice, f"Order {notice.order_id} has shipped", body, link, "order_shipped")


# -- build and send: what the code that moves an order calls -----------------------------


def notify_order_paid(sender: EmailSender, notice: OrderNotice, storefront_url: str) -> str:
    return sender.send(order_paid_email(notice, storefront_url))


def notify_order_held(
    sender: EmailSender,
    notice: OrderNotice,
    reasons: Sequence[str],
    storefront_url: str,
    *,
    will_refund: bool,
    embargoed: bool = False,
) -> str:
    return sender.send(
        order_held_email(
            notice, reasons, storefront_url, will_refund=will_refund, embargoed=embargoed
        )
    )


def notify_order_refunded(
    sender: EmailSender, notice: OrderNotice, amount_refunded: int, storefront_url: str
) -> str:
    return sender.send(order_refunded_email(notice, amount_refunded, storefront_url))


def notify_order_shipped(
    sender: EmailSender,
    notice: OrderNotice,
    carrier: str,
    tracking_number: str,
    storefront_url: str,
) -> str:
    return sender.send(order_shipped_email(notice, carrier, tracking_number, storefront_url))
