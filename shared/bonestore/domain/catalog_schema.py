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
