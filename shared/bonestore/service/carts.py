"""Carts as clients send them, and as the rules see them.

The request models are shared by every endpoint that takes a cart
(``/eligibility``, ``/checkout``, ``/support/eligibility``) so they validate the
same way and document the same way in the OpenAPI. Products always come from
the catalog table: nothing a client says about a product is trusted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
)

from bonestore.domain.errors import InvalidInput

if TYPE_CHECKING:
    from bonestore.domain.catalog import Product
    from bonestore.domain.geo import Destination
    from bonestore.domain.rules import CartDecision, CartLine, Engine
    from bonestore.service.ports import ProductStore

MAX_LINES = 100
MAX_QUANTITY = 999


class CartItemIn(BaseModel):
    # Clients may echo prices or names they displayed; they are ignored, never trusted.
    model_config = ConfigDict(extra="ignore")

    sku: Annotated[str, Field(min_length=1, max_length=64, examples=["TRUEOSTEO-120"])]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY, examples=[1])]


class DestinationIn(BaseModel):
    """A destination as sent; normalized and checked by ``bonestore.domain.geo``."""

    model_config = ConfigDict(extra="forbid")

    country: Annotated[str, Field(min_length=1, max_length=64, examples=["US"])]
    subdivision: Annotated[str, Field(max_length=64, examples=["US-HI"])] | None = None
    postal_code: Annotated[str, Field(max_length=32, examples=["96813"])] | None = None
    city: Annotated[str, Field(max_length=200)] | None = None
    line1: Annotated[str, Field(max_length=200)] | None = None


CartItems = Annotated[list[CartItemIn], Field(min_length=1, max_length=MAX_LINES)]


_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _iso_text(value: Any) -> Any:
    """``at`` as the contract writes it, an ISO 8601 text: pydantic's lax mode would also
    read a number (``5``, ``"1700000000"``) as Unix seconds, a time nobody asked for."""
    if value is not None and not (isinstance(value, str) and _ISO_DATE_TIME.match(value)):
        raise ValueError("at must be an ISO 8601 time with its offset, like 2026-01-31T00:00:00Z")
    return value


def _in_utc(value: datetime | None) -> datetime | None:
    """``at`` in UTC, the time the rules compare (out of range in UTC: a 400)."""
    from bonestore.domain.orders import in_utc

    return None if value is None else in_utc(value)


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destination: DestinationIn
    items: CartItems
    at: Annotated[
        AwareDatetime | None,
        BeforeValidator(_iso_text),
        AfterValidator(_in_utc),
        Field(examples=["2026-01-31T00:00:00Z"]),
    ] = None


def destination_of(raw: DestinationIn, field: str = "destination") -> Destination:
    from bonestore.domain.geo import normalize_destination

    # Its unset fields are None, which normalize_destination reads as absent.
    return normalize_destination(raw.model_dump(), field=field)


def load_products(repository: ProductStore, skus: Sequence[str]) -> dict[str, Product]:
    """The active products for ``skus`` (one round trip); 400 ``unknown_sku`` naming the missing."""
    wanted = list(dict.fromkeys(sku.strip().upper() for sku in skus))
    found = repository.get_many(wanted)
    missing = [sku for sku in wanted if sku not in found]
    if missing:
        raise InvalidInput(
            f"Unknown product{'s' if missing[1:] else ''}: {', '.join(missing)}.",
            code="unknown_sku",
            details=[{"field": "items", "sku": sku} for sku in missing],
        )
    from bonestore.domain.catalog import product_of

    return {sku: product_of(item) for sku, item in found.items()}


def cart_lines(items: Sequence[CartItemIn], products: dict[str, Product]) -> list[CartLine]:
    from bonestore.domain.rules import CartLine

    return [CartLine(products[item.sku.strip().upper()], item.quantity) for item in items]


def decision_time(at: datetime | None) -> datetime:
    return at.astimezone(UTC) if at is not None else datetime.now(UTC)


def decide_request(
    request: EligibilityRequest, repository: ProductStore, engine: Engine, trace: bool = False
) -> CartDecision:
    """The rules' decision for a cart request: destination checked, products from the table,
    decided by ``engine`` (the provider's: ``bonestore serve --ruleset`` swaps it)."""
    destination = destination_of(request.destination)
    catalog = load_products(repository, [item.sku for item in request.items])
    return engine.decide(
        cart_lines(request.items, catalog), destination, decision_time(request.at), trace=trace
    )
