"""Builders for Stripe objects, shaped like Stripe's canonical fixtures (fixtures3.json).

Every key of the fixture object is present; values the emulator has no use for
are ``null`` or the empty value Stripe gives a fresh test-mode object.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALPHABET = string.ascii_letters + string.digits

Obj = dict[str, Any]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def empty_address() -> Obj:
    return {
        "city": None,
        "country": None,
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }


def address(values: Obj | None) -> Obj:
    result = empty_address()
    if values:
        result.update({key: values.get(key) for key in result})
    return result


def product(name: str, description: str | None, metadata: dict[str, str], created: int) -> Obj:
    return {
        "id": new_id("prod_", 14),
        "object": "product",
        "active": False,  # created inline by price_data: Stripe marks it inactive
        "attributes": [],
        "created": created,
        "default_price": None,
        "description": description,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata,
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(product_id: str, currency: str, unit_amount: int, created: int) -> Obj:
    return {
        "id": new_id("price_"),
        "object": "price",
        "active": False,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def line_item(price_obj: Obj, quantity: int, description: str) -> Obj:
    amount = price_obj["unit_amount"] * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_obj["currency"],
        "description": description,
        "metadata": {},
        "price": price_obj,
        "quantity": quantity,
    }


def shipping_rate(
    display_name: str, amount: int, currency: str, metadata: dict[str, str], created: int
) -> Obj:
    return {
        "id": new_id("shr_"),
        "object": "shipping_rate",
        "active": True,
        "created": created,
        "delivery_estimate": None,
        "display_name": display_name,
        "fixed_amount": {"amount": amount, "currency": currency},
        "livemode": False,
        "metadata": metadata,
        "tax_behavior": "unspecified",
        "tax_code": None,
        "type": "fixed_amount",
    }


def list_object(data: list[Obj], url: str) -> Obj:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def checkout_session(
    *,
    session_id: str,
    created: int,
    expires_at: int,
    currency: str,
    amount_subtotal: int,
    url: str,
    params: Obj,
    shipping_options: list[Obj],
) -> Obj:
    shipping = shipping_options[0] if shipping_options else None
    amount_shipping = shipping["shipping_amount"] if shipping else 0
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_subtotal,
        "amount_total": amount_subtotal + amount_shipping,
        "automatic_tax": {
            "enabled": params["automatic_tax"],
            "liability": None,
            "provider": None,
            "status": None,
        },
        "billing_address_collection": params["billing_address_collection"],
        "cancel_url": params["cancel_url"],
        "client_reference_id": params["client_reference_id"],
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": params["customer_email"],
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": params["locale"],
        "managed_payments": {"enabled": False},
        "metadata": params["metadata"],
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": (
            {"allowed_countries": params["allowed_countries"]}
            if params["allowed_countries"] is not None
            else None
        ),
        "shipping_cost": shipping_cost(shipping),
        "shipping_options": shipping_options,
        "status": "open",
        "submit_type": params["submit_type"],
        "subscription": None,
        "success_url": params["success_url"],
        "total_details": {
            "amount_discount": 0,
            "amount_shipping": amount_shipping,
            "amount_tax": 0,
        },
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def shipping_cost(option: Obj | None) -> Obj | None:
    if option is None:
        return None
    amount = option["shipping_amount"]
    return {
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "shipping_rate": option["shipping_rate"],
    }


def customer_details(email: str | None, name: str | None, addr: Obj) -> Obj:
    return {
        "address": addr,
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def payment_intent(
    *,
    amount: int,
    currency: str,
    created: int,
    metadata: dict[str, str],
    payment_method: str,
    shipping: Obj | None,
    receipt_email: str | None,
    status: str,
) -> Obj:
    intent_id = new_id("pi_")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": shipping,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def card_details(last4: str) -> Obj:
    return {
        "card": {
            "amount_authorized": None,
            "authorization_code": None,
            "brand": "visa",
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "extended_authorization": {"status": "disabled"},
            "fingerprint": "bonestoreEmu0001",
            "funding": "credit",
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": last4,
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": "visa",
            "network_token": {"used": False},
            "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
            "regulated_status": "unregulated",
            "three_d_secure": None,
            "transaction_link_id": None,
            "wallet": None,
        },
        "type": "card",
    }


def charge(
    *,
    intent: Obj,
    created: int,
    billing: Obj,
    last4: str,
    status: str,
    receipt_url: str,
) -> Obj:
    charge_id = new_id("ch_")
    paid = status == "succeeded"
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if paid else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if paid else None,
        "billing_details": {
            "address": billing["address"],
            "email": billing["email"],
            "name": billing["name"],
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "BONESTORE",
        "captured": paid,
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "payment_method_details": card_details(last4),
        "receipt_email": intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": receipt_url,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "review": None,
        "shipping": intent["shipping"],
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    *, charge_obj: Obj, amount: int, reason: str | None, metadata: dict[str, str], created: int
) -> Obj:
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge_obj["id"],
        "created": created,
        "currency": charge_obj["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge_obj["payment_intent"],
        "payment_method": charge_obj["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def event(
    *,
    event_type: str,
    data_object: Obj,
    previous_attributes: Obj | None,
    created: int,
    api_version: str,
    request: Obj,
    pending_webhooks: int,
) -> Obj:
    data: Obj = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": request,
        "type": event_type,
    }
