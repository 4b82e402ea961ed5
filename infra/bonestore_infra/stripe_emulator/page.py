"""The hosted checkout page (``/c/pay/{id}``): what a customer sees and submits."""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template
from urllib.parse import parse_qsl

from . import errors
from .errors import StripeError
from .objects import Obj
from .store import PaymentInput, Store

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
ADDRESS_FIELDS = (
    ("line1", "Address line 1", True),
    ("line2", "Address line 2", False),
    ("city", "City", False),
    ("state", "State / province / region", False),
    ("postal_code", "Postal code", False),
)
FORM_FIELDS = [
    "email",
    "name",
    "line1",
    "line2",
    "city",
    "state",
    "postal_code",
    "country",
    "shipping_rate",
    "card_number",
]


@functools.cache
def _template(name: str) -> Template:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return Template(text)


def money(amount: int, currency: str) -> str:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return f"{amount:,} {code.upper()}"
    places = 3 if code in THREE_DECIMAL else 2
    return f"{amount / 10**places:,.{places}f} {code.upper()}"


@functools.cache
def _country_names() -> dict[str, str]:
    import pycountry

    names = {country.alpha_2: country.name for country in pycountry.countries}
    names.update({"XK": "Kosovo", "AC": "Ascension Island", "TA": "Tristan da Cunha"})
    names["ZZ"] = "Unknown region"
    return names


def form_values(body: bytes) -> dict[str, str]:
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    values = {key: value.strip() for key, value in pairs if key in FORM_FIELDS}
    return values


def payment_from_form(store: Store, session_id: str, form: dict[str, str]) -> PaymentInput:
    session = store.get("checkout.session", session_id, "session")
    if not form.get("email"):
        raise errors.missing("email")
    card = form.get("card_number", "").replace(" ", "").replace("-", "")
    if not card:
        raise StripeError(
            402, "Your card number is incomplete.", type="card_error", code="incomplete_number"
        )
    addr = {key: form.get(key) or None for key in ("line1", "line2", "city", "state")}
    addr["postal_code"] = form.get("postal_code") or None
    addr["country"] = form.get("country") or None
    shipping = None
    billing: Obj | None = None
    if session["shipping_address_collection"] is not None:
        shipping = {"name": form.get("name", ""), "address": addr}
    elif any(addr.values()):
        billing = addr
    return PaymentInput(
        email=form["email"],
        name=form.get("name") or None,
        billing_address=billing,
        shipping=shipping,
        shipping_rate=form.get("shipping_rate") or None,
        card_number=card,
    )


def success_target(session: Obj) -> str:
    url = session["success_url"]
    if not url:
        return f"/c/pay/{session['id']}"
    return str(url).replace("{CHECKOUT_SESSION_ID}", session["id"])


def _closed(status: int, title: str, message: str, session: Obj | None) -> tuple[int, str]:
    link = ""
    if session is not None and session.get("cancel_url") and session["status"] == "expired":
        href = html.escape(session["cancel_url"])
        link = f'<p><a id="cancel" href="{href}">Return to the shop</a></p>'
    page = _template("closed.html").substitute(
        title=html.escape(title),
        message=html.escape(message),
        status=html.escape(session["status"] if session else "missing"),
        link=link,
    )
    return status, page


def render(
    store: Store, session_id: str, form: dict[str, str] | None, error: StripeError | None
) -> tuple[int, str]:
    """The page for a session: ``(HTTP status, HTML)``."""
    try:
        session = store.get("checkout.session", session_id, "session")
    except StripeError:
        return _closed(404, "Checkout session not found", f"No such session: {session_id}", None)
    if session["status"] == "open" and session["expires_at"] <= store.now():
        session["status"] = "expired"
    if session["status"] == "expired":
        return _closed(
            410,
            "This checkout session has expired",
            "The time to pay for this order ran out. Return to the shop to start again.",
            session,
        )
    if session["status"] == "complete":
        return _closed(
            409,
            "This checkout session is already complete",
            "This order has been paid (or is being paid); it cannot be paid again.",
            session,
        )
    line_items = store.line_items_list(session_id)["data"]
    values = dict(form or {})
    values.setdefault("email", session["customer_email"] or "")
    currency = session["currency"]
    rows = "\n".join(
        f'<tr class="line"><td>{html.escape(item["description"])} × {item["quantity"]}</td>'
        f'<td class="amount">{money(item["amount_total"], currency)}</td></tr>'
        for item in line_items
    )
    options = session["shipping_options"]
    chosen = values.get("shipping_rate") or (options[0]["shipping_rate"] if options else "")
    chosen_amount = next((o["shipping_amount"] for o in options if o["shipping_rate"] == chosen), 0)
    shipping_fieldset = ""
    if options:
        radios = []
        for option in options:
            rate = store.get("shipping_rate", option["shipping_rate"])
            amount = option["shipping_amount"]
            total = money(session["amount_subtotal"] + amount, currency)
            checked = " checked" if option["shipping_rate"] == chosen else ""
            radios.append(
                f'<label><input type="radio" name="shipping_rate" '
                f'id="shipping_rate_{html.escape(rate["id"])}" value="{html.escape(rate["id"])}" '
                f'data-display="{money(amount, currency)}" data-total="{total}"{checked}> '
                f"{html.escape(rate['display_name'])} — {money(amount, currency)}</label>"
            )
        shipping_fieldset = (
            '<fieldset id="shipping-options"><legend>Shipping method</legend>'
            + "\n".join(radios)
            + "</fieldset>"
        )
    collecting_shipping = session["shipping_address_collection"] is not None
    billing_required = session["billing_address_collection"] == "required"
    names = _country_names()
    if collecting_shipping:
        codes = session["shipping_address_collection"]["allowed_countries"]
        legend = "Shipping address"
    else:
        codes = list(names)
        legend = "Billing address" if billing_required else "Billing details"
    selected_country = values.get("country", "")
    country_options = ['<option value="">Select a country</option>'] + [
        f'<option value="{code}"{" selected" if code == selected_country else ""}>'
        f"{html.escape(names.get(code, code))}</option>"
        for code in sorted(codes, key=lambda c: names.get(c, c))
    ]
    address_needed = collecting_shipping or billing_required
    address_fields = "\n".join(
        f'<label for="{key}">{label}</label>'
        f'<input type="text" id="{key}" name="{key}" value="{html.escape(values.get(key, ""))}"'
        f"{' required' if required and address_needed else ''}>"
        for key, label, required in ADDRESS_FIELDS
        if address_needed or key == "postal_code"
    )
    fixed_html = ""
    fixed = store.fixed_shipping(session_id)
    if fixed is not None:
        # Stripe shows an address the merchant fixed as text: nothing here can change it.
        addr = fixed["address"]
        city_line = " ".join(
            part for part in (addr.get("city"), addr.get("state"), addr.get("postal_code")) if part
        )
        lines = [fixed["name"], addr.get("line1"), addr.get("line2"), city_line]
        lines.append(names.get(addr.get("country") or "", addr.get("country") or ""))
        fixed_html = (
            '<section id="fixed-shipping" aria-label="Shipping address"><h2>Shipping to</h2>'
            "<address>"
            + "<br>".join(html.escape(line) for line in lines if line)
            + "</address></section>"
        )
    error_html = ""
    if error is not None:
        error_html = (
            f'<div class="error" id="error" role="alert">{html.escape(error.message)}</div>'
        )
    cancel_link = ""
    if session["cancel_url"]:
        cancel_link = (
            f'<p><a id="cancel" href="{html.escape(session["cancel_url"])}">'
            "← Cancel and return to the shop</a></p>"
        )
    total = money(session["amount_subtotal"] + chosen_amount, currency)
    page = _template("checkout.html").substitute(
        merchant_total=total,
        line_rows=rows,
        subtotal=money(session["amount_subtotal"], currency),
        shipping_amount=money(chosen_amount, currency),
        total=total,
        cancel_link=cancel_link,
        session_id=html.escape(session_id),
        error=error_html,
        email=html.escape(values.get("email", "")),
        address_legend=legend,
        name=html.escape(values.get("name", "")),
        name_required="required" if collecting_shipping else "",
        address_fields=address_fields,
        country_options="\n".join(country_options),
        shipping_fieldset=shipping_fieldset,
        fixed_shipping=fixed_html,
        card_number=html.escape(values.get("card_number", "")),
    )
    status = error.status if error is not None else 200
    return status, page
