"""Configuration: one typed, validated model, read from the environment once per cold start.

template.yaml sets these variables for each function; `bonestore serve` sets the
same ones for the local run. AWS endpoints (moto, DynamoDB Local) come from the
standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_DYNAMODB`` variables, which
boto3 reads itself, so no code path differs between local and AWS.

Why a frozen dataclass and not a pydantic model: importing pydantic costs about
half of a bare boto3 client's start-up (measured with ``make bench``), and the
catalog function, which answers every page view, has a cold-start budget of
1.25x that baseline. The model validates every field the same way (types,
ranges, allowed values) and reports all problems at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, ClassVar

ON_INELIGIBLE_PAYMENT = ("hold", "refund")
# STOREFRONT_ORIGIN's value for a storefront served with the API (CloudFront): no CORS.
SAME_ORIGIN = "same-origin"

# Whole-number settings and their allowed ranges (the template's parameters say the same).
INTEGER_RANGES: Mapping[str, tuple[int, int]] = {
    "checkout_expiry_minutes": (30, 1440),
    "checkout_max_units_per_sku": (1, 999),
    "checkout_max_open_reservations": (1, 100),
    "checkout_rate_per_email": (1, 1_000_000),
    "checkout_rate_per_address": (1, 1_000_000),
}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    region: str = "us-east-1"
    products_table: str = "bonestore-products"
    orders_table: str = "bonestore-orders"
    idempotency_table: str = "bonestore-idempotency"
    # Reservation limits' counters (bonestore.domain.limits; docs/deploy.md#reservation-limits).
    limits_table: str = "bonestore-limits"
    event_bus_name: str = "default"
    # Secrets Manager secret holding {"api_key": "sk_...", "webhook_secret": "whsec_..."}.
    stripe_secret_name: str = "bonestore/stripe"  # noqa: S105 - a name, not a secret
    # Only for the local emulator; unset in AWS, where the SDK talks to Stripe.
    stripe_api_base: str | None = None
    checkout_expiry_minutes: int = 30
    # One customer's share: units of one SKU and checkouts holding stock at once; and
    # checkouts started per minute by one email and by one client address (a NAT: generous).
    checkout_max_units_per_sku: int = 20
    checkout_max_open_reservations: int = 5
    checkout_rate_per_email: int = 6
    checkout_rate_per_address: int = 30
    # What happens to a paid order the rules refuse at payment: held for support, or refunded.
    on_ineligible_payment: str = "hold"
    # The browser origin allowed to call the API; None (``same-origin``): no CORS header.
    storefront_origin: str | None = "*"
    # Customer emails: the SES identity they come from, and the storefront their links open.
    email_sender: str = "orders@bonestore.example"
    storefront_url: str = "http://127.0.0.1:3000"  # local only (the local stack sets it)
    # In AWS: the SSM parameter holding the storefront URL (the template cannot hand the
    # functions the CloudFront domain: a cycle). Read at the first email sent.
    storefront_url_parameter: str | None = None

    # field name -> environment variable
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "region": "AWS_REGION",
        "products_table": "PRODUCTS_TABLE",
        "orders_table": "ORDERS_TABLE",
        "idempotency_table": "IDEMPOTENCY_TABLE",
        "limits_table": "LIMITS_TABLE",
        "event_bus_name": "EVENT_BUS_NAME",
        "stripe_secret_name": "STRIPE_SECRET_NAME",
        "stripe_api_base": "STRIPE_API_BASE",
        "checkout_expiry_minutes": "CHECKOUT_EXPIRY_MINUTES",
        "checkout_max_units_per_sku": "CHECKOUT_MAX_UNITS_PER_SKU",
        "checkout_max_open_reservations": "CHECKOUT_MAX_OPEN_RESERVATIONS",
        "checkout_rate_per_email": "CHECKOUT_RATE_PER_EMAIL",
        "checkout_rate_per_address": "CHECKOUT_RATE_PER_ADDRESS",
        "on_ineligible_payment": "ON_INELIGIBLE_PAYMENT",
        "storefront_origin": "STOREFRONT_ORIGIN",
        "email_sender": "EMAIL_SENDER",
        "storefront_url": "STOREFRONT_URL",
        "storefront_url_parameter": "STOREFRONT_URL_PARAMETER",
    }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in fields(cls):
            raw = environ.get(cls.ENVIRONMENT[field.name])
            if raw is None or raw == "":
                continue
            if field.name in INTEGER_RANGES:
                low, high = INTEGER_RANGES[field.name]
                if not raw.strip().isdigit() or not low <= int(raw) <= high:
                    name = cls.ENVIRONMENT[field.name]
                    problems.append(f"{name} must be {low}..{high}, not {raw!r}")
                    continue
                values[field.name] = int(raw)
            elif field.name == "on_ineligible_payment" and raw not in ON_INELIGIBLE_PAYMENT:
                problems.append(f"ON_INELIGIBLE_PAYMENT must be hold or refund, not {raw!r}")
            elif field.name == "email_sender" and "@" not in raw:
                problems.append(f"EMAIL_SENDER must be an email address, not {raw!r}")
            elif field.name == "storefront_origin" and raw.strip() == SAME_ORIGIN:
                values[field.name] = None
            elif field.name == "storefront_url" and not raw.startswith(("https://", "http://")):
                problems.append(f"STOREFRONT_URL must be an http(s) URL, not {raw!r}")
            else:
                values[field.name] = raw.strip()
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**values)


@cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
