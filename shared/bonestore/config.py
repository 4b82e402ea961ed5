"""Configuration: one pydantic model, read from the environment once per cold start.

template.yaml sets these variables for each function; `bonestore serve` sets the
same ones for the local run. AWS endpoints (moto, DynamoDB Local) come from the
standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_DYNAMODB`` variables, which
boto3 reads itself, so no code path differs between local and AWS.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    region: str = Field(default="us-east-1", alias="AWS_REGION")
    products_table: str = Field(default="bonestore-products", alias="PRODUCTS_TABLE")
    orders_table: str = Field(default="bonestore-orders", alias="ORDERS_TABLE")
    idempotency_table: str = Field(default="bonestore-idempotency", alias="IDEMPOTENCY_TABLE")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    # Secrets Manager secret holding {"api_key": "sk_...", "webhook_secret": "whsec_..."}.
    stripe_secret_name: str = Field(default="bonestore/stripe", alias="STRIPE_SECRET_NAME")
    # Only for the local emulator; unset in AWS, where the SDK talks to Stripe.
    stripe_api_base: str | None = Field(default=None, alias="STRIPE_API_BASE")
    checkout_expiry_minutes: int = Field(
        default=30, ge=30, le=1440, alias="CHECKOUT_EXPIRY_MINUTES"
    )
    # What happens to a paid order the rules refuse at payment: held for support, or refunded.
    on_ineligible_payment: Literal["hold", "refund"] = Field(
        default="hold", alias="ON_INELIGIBLE_PAYMENT"
    )
    storefront_origin: str = Field(default="*", alias="STOREFRONT_ORIGIN")


@cache
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
