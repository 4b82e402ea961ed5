"""Stripe's wire format <-> the domain's payment values (``bonestore.domain.payment``).

Parsing never trusts a payload's shapes, signed or not: a field of the wrong type
(``metadata`` as a string, ``refunds`` as a list, nested garbage) reads as absent, so a
malformed event is ignored rather than answered with a 500.

Where Stripe puts the shipping address: ``collected_information.shipping_details``
(API versions from 2025 on), else top-level ``shipping_details`` or ``shipping``
(older versions); billing in ``customer_details.address``. All are accepted. A
session that fixes the address (``payment_intent_data.shipping``) collects none: the
address is the PaymentIntent's ``shipping`` (:func:`parse_intent_shipping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bonestore.domain.payment import (
    CHARGE_REFUNDED,
    HANDLED_EVENTS,
    ChargeRefund,
    CheckoutSession,
    PaymentEvent,
    SessionRequest,
    ShippingDetails,
)

if TYPE_CHECKING:
    from bonestore.domain.order import Address

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code", "country")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id(value: Any) -> str | None:
    """An expandable field: the id, or the object carrying it."""
    return _str(_dict(value).get("id")) if isinstance(value, Mapping) else _str(value)


def _address(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    found = {k: value[k] for k in ADDRESS_FIELDS if isinstance(value.get(k), str)}
    return found or None


def _shipping_details(session: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for candidate in (
        _dict(session.get("collected_information")).get("shipping_details"),
        session.get("shipping_details"),
        session.get("shipping"),
    ):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("address"), Mapping):
            return candidate
    return None


def _shipping_paid(session: Mapping[str, Any]) -> int:
    paid = _int(_dict(session.get("shipping_cost")).get("amount_total"))
    if paid is None:
        paid = _int(_dict(session.get("total_details")).get("amount_shipping"))
    return paid or 0


def parse_session(session: Mapping[str, Any]) -> CheckoutSession:
    shipping = _shipping_details(session)
    customer = _dict(session.get("customer_details"))
    rate = _id(_dict(session.get("shipping_cost")).get("shipping_rate"))
    if rate is None:
        rate = _id(session.get("shipping_rate"))  # pre-2020 sessions
    options = session.get("shipping_options")
    return CheckoutSession(
        session_id=_str(session.get("id")),
        order_id=_str(_dict(session.get("metadata")).get("order_id"))
        or _str(session.get("client_reference_id")),
        url=_str(session.get("url")),
        status=_str(session.get("status")),
        payment_status=_str(session.get("payment_status")),
        email=_str(customer.get("email")),
        shipping_name=_str(shipping.get("name")) if shipping else None,
        shipping_address=_address(shipping.get("address")) if shipping else None,
        billing_address=_address(customer.get("address")),
        shipping_rate_id=rate,
        shipping_paid=_shipping_paid(session),
        amount_subtotal=_int(session.get("amount_subtotal")),
        amount_total=_int(session.get("amount_total")),
        currency=_str(session.get("currency")),
        payment_intent_id=_id(session.get("payment_intent")),
        shipping_option_rate_ids=tuple(
            rate_id
            for option in (options if isinstance(options, list) else [])
            if (rate_id := _id(_dict(option).get("shipping_rate")))
        ),
    )


def parse_intent_shipping(intent: Mapping[str, Any]) -> ShippingDetails | None:
    """A PaymentIntent's ``shipping`` (``{name, address, carrier, phone, ...}``), or None."""
    shipping = intent.get("shipping")
    if not isinstance(shipping, Mapping):
        return None
    address = _address(shipping.get("address"))
    if address is None:
        return None
    return ShippingDetails(name=_str(shipping.get("name")), address=address)


def stripe_address(address: Address) -> dict[str, str]:
    """An order's address in Stripe's shape: ``state`` is the subdivision's own part
    (``US-IL`` -> ``IL``, ``CA-QC`` -> ``QC``), as Stripe's address fields expect."""
    state = address.subdivision.split("-", 1)[-1] if address.subdivision else None
    fields = {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "state": state,
        "postal_code": address.postal_code,
        "country": address.country,
    }
    return {k: v for k, v in fields.items() if v}


def parse_charge(charge: Mapping[str, Any]) -> ChargeRefund:
    order_id = _str(_dict(charge.get("metadata")).get("order_id"))
    if order_id is None:
        refunds = _dict(charge.get("refunds")).get("data")
        for refund in refunds if isinstance(refunds, list) else []:
            order_id = _str(_dict(_dict(refund).get("metadata")).get("order_id"))
            if order_id:
                break
    return ChargeRefund(
        charge_id=_str(charge.get("id")),
        order_id=order_id,
        amount_refunded=_int(charge.get("amount_refunded")),
        full=charge.get("refunded") is True,
    )


def parse_event(event: Mapping[str, Any]) -> PaymentEvent | None:
    """A handled event with a readable object, else None (the caller ignores it)."""
    event_id, event_type = _str(event.get("id")), _str(event.get("type"))
    obj = _dict(event.get("data")).get("object")
    if event_id is None or event_type not in HANDLED_EVENTS or not isinstance(obj, Mapping):
        return None
    if event_type == CHARGE_REFUNDED:
        return PaymentEvent(event_id, event_type, charge=parse_charge(obj))
    return PaymentEvent(event_id, event_type, session=parse_session(obj))


def session_params(request: SessionRequest) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` parameters (payment mode, inline prices)."""
    metadata = {"order_id": request.order_id}
    params: dict[str, Any] = {
        "mode": "payment",
        "client_reference_id": request.order_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "line_items": [
            {
                "quantity": line.quantity,
                "price_data": {
                    "currency": line.unit_price.currency.lower(),
                    "unit_amount": line.unit_price.amount,
                    "product_data": {
                        "name": str(line.product.get("name") or line.sku),
                        "metadata": {"sku": line.sku},
                    },
                },
            }
            for line in request.lines
        ],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "expires_at": request.expires_at,
        # Always a billing address: its country is screened for embargoes at payment.
        "billing_address_collection": "required",
    }
    if request.email:
        params["customer_email"] = request.email
    if request.shipping_address is not None:
        # The address is fixed on the PaymentIntent, so Checkout shows it and collects no
        # other (no shipping_address_collection); the one method decided is the one offer.
        address = request.shipping_address
        params["payment_intent_data"]["shipping"] = {
            "name": address.name or "",
            "address": stripe_address(address),
        }
    if request.shipping_options:
        params["shipping_options"] = [
            {
                "shipping_rate_data": {
                    "type": "fixed_amount",
                    "display_name": option.name,
                    "fixed_amount": {
                        "amount": option.price.amount,
                        "currency": option.price.currency.lower(),
                    },
                    "metadata": {"method_id": option.method_id, "order_id": request.order_id},
                }
            }
            for option in request.shipping_options
        ]
    return params
