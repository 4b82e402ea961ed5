"""HTTP response models of the pydantic-validated functions, for their OpenAPI document.

The handlers build plain dicts; these models describe what the contract (docs/api.md)
promises of them. Routes name them in ``responses=`` (documentation and Schemathesis'
response checks), not as return annotations, so a response is never re-validated on
the hot path. Shapes the contract leaves open (an order's timeline, a ruleset) allow
extra fields; every field the contract names is here. The catalog function builds its
bodies without pydantic (``bonestore.domain.product_view``); its models are here too and
are imported only at documentation time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bonestore.domain.money import Money


class _Open(BaseModel):
    """A body that may carry more than the contract names (the project may add fields)."""

    model_config = ConfigDict(extra="allow")


# The public catalog (GET /products, /products/{sku}, /countries) and the error body.
class ReasonOut(BaseModel):
    rule_id: str
    code: str
    message: str


class AvailabilityOut(BaseModel):
    country: str
    eligible: bool
    max_quantity: int | None
    reasons: list[ReasonOut]


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str
    kind: str
    category: str
    price: Money
    in_stock: bool
    position: int  # catalog order: lower first (ties by SKU)
    availability: AvailabilityOut | None = None


class ProductList(BaseModel):
    items: list[ProductOut]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, object]] | None = None


class ErrorBody(BaseModel):
    """Every 4xx/5xx: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorDetail


class SubdivisionOut(BaseModel):
    code: str  # ISO 3166-2, or US-AA/US-AE/US-AP
    name: str


class SubdivisionFormat(BaseModel):
    required: bool  # the address form asks for it (US states, CA provinces...)
    label: str  # what the country calls it: "State", "Province", "County", "Region"


class PostalCodeFormat(BaseModel):
    required: bool  # its format is known and an address needs one
    used: bool  # the country has postal codes at all (show the field)
    example: str | None  # a real code in its canonical form, for a placeholder
    label: str  # "ZIP code", "Postcode", "Eircode", "PIN code", "Postal code"


class CountryOut(BaseModel):
    code: str  # ISO 3166-1 alpha-2
    name: str
    subdivisions: list[SubdivisionOut]
    subdivision: SubdivisionFormat
    postal_code: PostalCodeFormat


class CountryList(BaseModel):
    items: list[CountryOut]


class DestinationOut(_Open):
    country: str
    subdivision: str | None = None
    postal_code: str | None = None
    city: str | None = None
    line1: str | None = None


class LineDecisionOut(_Open):
    sku: str
    quantity: int
    eligible: bool
    max_quantity: int | None
    reasons: list[ReasonOut]


class ShippingMethodOut(_Open):
    id: str
    name: str
    price: Money


class EligibilityOut(_Open):
    """``POST /eligibility`` 200."""

    eligible: bool
    ruleset_version: str
    evaluated_at: str
    destination: DestinationOut
    items: list[LineDecisionOut]
    shipping_methods: list[ShippingMethodOut]


class ExplainedEligibilityOut(EligibilityOut):
    """``POST /support/eligibility`` 200: the same decision, with every rule considered
    for each line and whether it matched (``trace``)."""

    trace: list[dict[str, Any]]


class AddressOut(_Open):
    """The contract's Address, normalized."""

    name: str
    line1: str
    line2: str | None = None
    city: str
    subdivision: str | None = None
    postal_code: str | None = None
    country: str


class ChosenShippingOut(_Open):
    """The one shipping method an order is charged for: ``{id, name, price}``."""

    id: str
    name: str
    price: Money


class CheckoutCreated(_Open):
    """``POST /checkout`` 201. ``order_token`` is shown here once: keep it."""

    order_id: str
    order_token: str
    checkout_url: str
    stripe_session_id: str
    shipping_address: AddressOut | None
    shipping_method: ChosenShippingOut | None
    allowed_countries: list[str] | None


class CustomerOrderLineOut(_Open):
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


class ShipmentOut(_Open):
    """A parcel that left the warehouse (recorded by POST /admin/orders/{order_id}/shipments)."""

    carrier: str = Field(description="Who carries the parcel, as the warehouse named it.")
    tracking_number: str = Field(description="The carrier's tracking number.")
    at: str = Field(description="When it shipped: UTC, ISO 8601 (2026-12-01T23:02:10.123Z).")


class CustomerOrderOut(_Open):
    """``GET /orders/{order_id}`` 200: the customer's own order, in their words."""

    order_id: str
    status: str
    status_message: str
    items: list[CustomerOrderLineOut]
    amount_total: Money
    shipping_address: AddressOut | None
    shipping_method: ChosenShippingOut | None
    shipments: list[ShipmentOut] = Field(
        description="Once the order is fulfilled: each parcel with its tracking; else empty."
    )
    updated_at: str


class OrderSummaryOut(_Open):
    order_id: str
    status: str
    email: str | None = None
    created_at: str
    amount_total: Money | None = None


class OrderListOut(_Open):
    """``GET /support/orders`` 200."""

    items: list[OrderSummaryOut]
    next_token: str | None = None


class TimelineEntryOut(_Open):
    at: str
    type: str
    detail: dict[str, Any] | None = None


class SupportOrderOut(_Open):
    """``GET /support/orders/{order_id}`` 200: the order, its timeline and its eligibility."""

    order_id: str
    status: str
    email: str | None = None
    items: list[dict[str, Any]]
    amount_total: Money | None = None
    destination: dict[str, Any] | None = None
    stripe_session_id: str | None = None
    eligibility: dict[str, Any]
    events: list[TimelineEntryOut]


class StoredProductOut(_Open):
    """``PUT`` / ``DELETE /admin/products/{sku}``: the product as stored."""

    sku: str
    name: str
    kind: str
    category: str
    price: Money
    reserved: int
    # Physical goods: stock = on hand not yet sold = available + reserved, and
    # available + reserved + sold = received (docs/api.md, Ops).
    stock: int | None = None
    available: int | None = None
    sold: int | None = None
    received: int | None = None
    updated_at: str | None = None


class RulesLintOut(_Open):
    ok: bool
    errors: int
    warnings: int
    issues: list[dict[str, Any]]


class RulesetOut(_Open):
    """``GET /admin/rules`` 200."""

    version: str
    source: str
    rules: list[dict[str, Any]]
    lint: RulesLintOut


class WebhookAck(_Open):
    """``POST /webhooks/stripe`` 200: handled (duplicates and ignored types included)."""

    received: bool | None = None
    action: str | None = None
    event_id: str | None = None
