"""Validation of ``POST /v1/checkout/sessions`` parameters, as Stripe reports problems."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .countries import SHIPPING_COUNTRIES
from .params import Params

# Top-level parameters of the endpoint (stripe-python v16's SessionCreateParams).
# Unknown names get Stripe's parameter_unknown; known but unused ones are accepted.
SESSION_PARAMS = frozenset(
    [
        "adaptive_pricing",
        "after_expiration",
        "allow_promotion_codes",
        "allowed_payment_method_types",
        "automatic_tax",
        "billing_address_collection",
        "branding_settings",
        "cancel_url",
        "client_reference_id",
        "consent_collection",
        "currency",
        "custom_fields",
        "custom_text",
        "customer",
        "customer_account",
        "customer_creation",
        "customer_email",
        "customer_update",
        "discounts",
        "excluded_payment_method_types",
        "expand",
        "expires_at",
        "integration_identifier",
        "invoice_creation",
        "line_items",
        "locale",
        "managed_payments",
        "metadata",
        "mode",
        "name_collection",
        "optional_items",
        "origin_context",
        "payment_intent_data",
        "payment_method_collection",
        "payment_method_configuration",
        "payment_method_data",
        "payment_method_options",
        "payment_method_types",
        "permissions",
        "phone_number_collection",
        "redirect_on_completion",
        "return_url",
        "saved_payment_method_options",
        "setup_intent_data",
        "shipping_address_collection",
        "shipping_options",
        "submit_type",
        "subscription_data",
        "success_url",
        "tax_id_collection",
        "ui_mode",
        "wallet_options",
    ]
)
LINE_ITEM_PARAMS = frozenset(
    [
        "adjustable_quantity",
        "dynamic_tax_rates",
        "metadata",
        "price",
        "price_data",
        "quantity",
        "tax_rates",
    ]
)
PRICE_DATA_PARAMS = frozenset(
    [
        "currency",
        "product",
        "product_data",
        "recurring",
        "tax_behavior",
        "unit_amount",
        "unit_amount_decimal",
    ]
)
PRODUCT_DATA_PARAMS = frozenset(
    ["description", "images", "metadata", "name", "tax_code", "tax_details", "unit_label"]
)
SHIPPING_RATE_DATA_PARAMS = frozenset(
    [
        "delivery_estimate",
        "display_name",
        "fixed_amount",
        "metadata",
        "tax_behavior",
        "tax_code",
        "type",
    ]
)
PAYMENT_INTENT_DATA_PARAMS = frozenset(
    [
        "application_fee_amount",
        "capture_method",
        "description",
        "metadata",
        "on_behalf_of",
        "receipt_email",
        "setup_future_usage",
        "shipping",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "transfer_data",
        "transfer_group",
    ]
)

MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60
MAX_LINE_ITEMS = 100
MAX_SHIPPING_OPTIONS = 5
MAX_AMOUNT = 99_999_999
_CURRENCY = re.compile(r"^[a-z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class LineInput:
    name: str
    description: str | None
    product_metadata: dict[str, str]
    currency: str
    unit_amount: int
    quantity: int
    existing_price: dict[str, Any] | None = None


@dataclass
class ShippingInput:
    display_name: str
    amount: int
    currency: str
    metadata: dict[str, str]
    existing_rate: dict[str, Any] | None = None


@dataclass
class SessionInput:
    currency: str
    lines: list[LineInput]
    shipping: list[ShippingInput]
    fields: dict[str, Any]
    intent_metadata: dict[str, str]
    intent_description: str | None
    expires_at: int | None
    expand: list[str] = field(default_factory=list)
    # payment_intent_data[shipping]: the address the merchant fixed (None: none fixed)
    fixed_shipping: dict[str, Any] | None = None


def _url(p: Params, key: str) -> str | None:
    value = p.text(key, max_length=5000)
    if value is not None and not value.startswith(("http://", "https://")):
        raise errors.invalid(p.at(key), "Not a valid URL", code="url_invalid")
    return value


def _currency(p: Params, key: str) -> str:
    value = p.required_str(key).lower()
    if not _CURRENCY.match(value):
        raise errors.invalid(p.at(key), f"Invalid currency: {value}")
    return value


def parse_session(p: Params, now: int, lookup: Any) -> SessionInput:
    """Validate the create parameters; ``lookup(id)`` finds stored prices/shipping rates."""
    p.reject_unknown(SESSION_PARAMS)
    mode = p.enum("mode", ("payment", "setup", "subscription"), required=True)
    if mode != "payment":
        raise errors.invalid("mode", "The emulator supports only mode=payment.")

    lines = _line_items(p, lookup)
    currency = lines[0].currency
    for index, line in enumerate(lines):
        if line.currency != currency:
            raise errors.invalid(
                f"line_items[{index}][price_data][currency]",
                "All line items must use the same currency: "
                f"got {line.currency} where line_items[0] is {currency}.",
            )
    subtotal = sum(line.unit_amount * line.quantity for line in lines)
    if subtotal > MAX_AMOUNT:
        raise errors.invalid(
            "line_items", f"Amount must be no more than {MAX_AMOUNT}", code="amount_too_large"
        )

    expires_at = p.integer("expires_at")
    if expires_at is not None:
        if expires_at < now + MIN_EXPIRY_SECONDS:
            raise errors.invalid(
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes from "
                "Checkout Session creation.",
            )
        if expires_at > now + MAX_EXPIRY_SECONDS:
            raise errors.invalid(
                "expires_at",
                "The `expires_at` timestamp must be less than 24 hours from "
                "Checkout Session creation.",
            )

    allowed_countries: list[str] | None = None
    collection = p.obj("shipping_address_collection")
    if collection is not None:
        collection.reject_unknown({"allowed_countries"})
        countries = collection.array("allowed_countries", required=True)
        assert countries is not None
        allowed_countries = []
        for index, code in enumerate(countries):
            where = f"{collection.at('allowed_countries')}[{index}]"
            if not isinstance(code, str) or code not in SHIPPING_COUNTRIES:
                raise errors.invalid_enum(where, tuple(sorted(SHIPPING_COUNTRIES)))
            if code not in allowed_countries:
                allowed_countries.append(code)

    shipping = _shipping_options(p, currency, lookup)

    email = p.text("customer_email", max_length=512)
    if email is not None and not _EMAIL.match(email):
        raise errors.invalid(
            "customer_email", f"Invalid email address: {email}", code="email_invalid"
        )

    automatic_tax = p.obj("automatic_tax")
    tax_enabled = False
    if automatic_tax is not None:
        automatic_tax.reject_unknown({"enabled", "liability"})
        enabled = automatic_tax.boolean("enabled")
        if enabled is None:
            raise errors.missing(automatic_tax.at("enabled"))
        tax_enabled = enabled

    intent_metadata: dict[str, str] = {}
    intent_description = None
    fixed_shipping = None
    intent_data = p.obj("payment_intent_data")
    if intent_data is not None:
        intent_data.reject_unknown(PAYMENT_INTENT_DATA_PARAMS)
        intent_metadata = intent_data.metadata()
        intent_description = intent_data.text("description", max_length=1000)
        fixed_shipping = _fixed_shipping(intent_data)
    if fixed_shipping is not None and allowed_countries is not None:
        # The emulator is stricter than it needs to be here: one session either fixes the
        # address or lets the customer enter one, never both, so the page never has to guess.
        raise errors.invalid(
            "payment_intent_data[shipping]",
            "The emulator accepts payment_intent_data[shipping] only on a session without "
            "shipping_address_collection (the address is either fixed or collected).",
        )

    fields = {
        "success_url": _url(p, "success_url"),
        "cancel_url": _url(p, "cancel_url"),
        "client_reference_id": p.text("client_reference_id", max_length=200),
        "customer_email": email,
        "metadata": p.metadata(),
        "billing_address_collection": p.enum("billing_address_collection", ("auto", "required")),
        "allowed_countries": allowed_countries,
        "automatic_tax": tax_enabled,
        "locale": p.text("locale"),
        "submit_type": p.enum("submit_type", ("auto", "book", "donate", "pay", "subscribe")),
    }
    return SessionInput(
        currency=currency,
        lines=lines,
        shipping=shipping,
        fields=fields,
        intent_metadata=intent_metadata,
        intent_description=intent_description,
        expires_at=expires_at,
        expand=p.expand(),
        fixed_shipping=fixed_shipping,
    )


SHIPPING_PARAMS = frozenset(["address", "carrier", "name", "phone", "tracking_number"])
ADDRESS_PARAMS = frozenset(["city", "country", "line1", "line2", "postal_code", "state"])


def _fixed_shipping(intent_data: Params) -> dict[str, Any] | None:
    """``payment_intent_data[shipping]``, as the PaymentIntent's ``shipping`` will carry it.

    Stripe's create parameters: ``name`` and ``address`` (with ``line1``) required;
    ``carrier``, ``phone``, ``tracking_number`` optional.
    """
    shipping = intent_data.obj("shipping")
    if shipping is None:
        return None
    shipping.reject_unknown(SHIPPING_PARAMS)
    name = shipping.required_str("name", max_length=5000)
    addr = shipping.obj("address", required=True)
    assert addr is not None
    addr.reject_unknown(ADDRESS_PARAMS)
    address: dict[str, Any] = {
        key: addr.text(key, max_length=5000) for key in sorted(ADDRESS_PARAMS)
    }
    address["line1"] = addr.required_str("line1", max_length=5000)
    country = address["country"]
    if country is not None:
        if len(country) != 2 or not country.isalpha() or not country.isascii():
            raise errors.invalid(addr.at("country"), f"Invalid country: {country}")
        address["country"] = country.upper()
    return {
        "address": address,
        "carrier": shipping.text("carrier", max_length=5000),
        "name": name,
        "phone": shipping.text("phone", max_length=5000),
        "tracking_number": shipping.text("tracking_number", max_length=5000),
    }


def _line_items(p: Params, lookup: Any) -> list[LineInput]:
    raw = p.array("line_items", required=True)
    assert raw is not None
    if len(raw) > MAX_LINE_ITEMS:
        raise errors.invalid(
            "line_items", f"line_items may contain at most {MAX_LINE_ITEMS} items."
        )
    lines = []
    for index, entry in enumerate(raw):
        item = Params(entry, f"line_items[{index}]")
        item.reject_unknown(LINE_ITEM_PARAMS)
        quantity = item.required_int("quantity", minimum=1)
        price_id = item.text("price")
        price_data = item.obj("price_data")
        if price_id is not None and price_data is not None:
            raise errors.invalid(
                item.where, "You may only specify one of these parameters: price, price_data."
            )
        if price_id is not None:
            price = lookup(price_id)
            if price is None or price.get("object") != "price":
                raise errors.not_found("price", price_id, item.at("price"))
            product = lookup(price["product"]) or {}
            lines.append(
                LineInput(
                    name=product.get("name", price["product"]),
                    description=product.get("description"),
                    product_metadata=product.get("metadata", {}),
                    currency=price["currency"],
                    unit_amount=price["unit_amount"],
                    quantity=quantity,
                    existing_price=price,
                )
            )
            continue
        if price_data is None:
            raise errors.missing(item.at("price_data"))
        price_data.reject_unknown(PRICE_DATA_PARAMS)
        if price_data.has("recurring"):
            raise errors.invalid(
                price_data.at("recurring"),
                "You must use mode=subscription for recurring prices.",
            )
        currency = _currency(price_data, "currency")
        unit_amount = price_data.integer("unit_amount", minimum=0)
        if unit_amount is None:
            raise errors.missing(price_data.at("unit_amount"))
        if price_data.has("product"):
            raise errors.invalid(
                price_data.at("product"),
                "The emulator supports only price_data[product_data], not existing products.",
            )
        product_data = price_data.obj("product_data", required=True)
        assert product_data is not None
        product_data.reject_unknown(PRODUCT_DATA_PARAMS)
        lines.append(
            LineInput(
                name=product_data.required_str("name", max_length=250),
                description=product_data.text("description", max_length=40000),
                product_metadata=product_data.metadata(),
                currency=currency,
                unit_amount=unit_amount,
                quantity=quantity,
            )
        )
    if not lines:
        raise errors.missing("line_items")
    return lines


def _shipping_options(p: Params, currency: str, lookup: Any) -> list[ShippingInput]:
    raw = p.array("shipping_options")
    if raw is None:
        return []
    if len(raw) > MAX_SHIPPING_OPTIONS:
        raise errors.invalid(
            "shipping_options", f"shipping_options may contain at most {MAX_SHIPPING_OPTIONS}."
        )
    options = []
    for index, entry in enumerate(raw):
        option = Params(entry, f"shipping_options[{index}]")
        option.reject_unknown({"shipping_rate", "shipping_rate_data"})
        rate_id = option.text("shipping_rate")
        if rate_id is not None:
            rate = lookup(rate_id)
            if rate is None or rate.get("object") != "shipping_rate":
                raise errors.not_found("shipping_rate", rate_id, option.at("shipping_rate"))
            options.append(
                ShippingInput(
                    display_name=rate["display_name"],
                    amount=rate["fixed_amount"]["amount"],
                    currency=rate["fixed_amount"]["currency"],
                    metadata=rate["metadata"],
                    existing_rate=rate,
                )
            )
            continue
        data = option.obj("shipping_rate_data")
        if data is None:
            raise errors.missing(option.at("shipping_rate_data"))
        data.reject_unknown(SHIPPING_RATE_DATA_PARAMS)
        data.enum("type", ("fixed_amount",))
        display_name = data.required_str("display_name", max_length=100)
        fixed = data.obj("fixed_amount", required=True)
        assert fixed is not None
        fixed.reject_unknown({"amount", "currency", "currency_options"})
        amount = fixed.required_int("amount", minimum=0)
        rate_currency = _currency(fixed, "currency")
        if rate_currency != currency:
            raise errors.invalid(
                fixed.at("currency"),
                f"The shipping rate currency ({rate_currency}) must match the currency "
                f"of the line items ({currency}).",
            )
        options.append(
            ShippingInput(
                display_name=display_name,
                amount=amount,
                currency=rate_currency,
                metadata=data.metadata(),
            )
        )
    return options
