"""Per-country availability of stored products (the ``?country=`` view)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bonestore.domain.catalog import product_of
from bonestore.domain.geo import normalize_destination

if TYPE_CHECKING:
    from bonestore.domain.rules import Engine


def availability_for(item: dict[str, Any], country: str, engine: Engine) -> dict[str, Any]:
    """The stored product's availability in ``country``, as ``engine`` decides it (the
    provider's: ``bonestore serve --ruleset`` swaps it, so the catalog and checkout agree)."""
    destination = normalize_destination({"country": country}, field="query")
    return engine.availability(product_of(item), destination.country)
