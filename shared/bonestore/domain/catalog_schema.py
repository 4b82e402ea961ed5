"""Response models of the public catalog, for its OpenAPI document only.

The catalog function builds plain dicts (no pydantic on its cold path); these
models describe the same shape for the generated documentation.
"""

from __future__ import annotations

from pydantic import BaseModel

from bonestore.domain.money import Money


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
