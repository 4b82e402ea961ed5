"""Per-country availability of stored products (the ``?country=`` view)."""

from __future__ import annotations

from typing import Any

from bonestore.domain.catalog import product_of
from bonestore.domain.geo import normalize_destination
from bonestore.domain.rules import default_engine


def availability_for(item: dict[str, Any], country: str) -> dict[str, Any]:
    destination = normalize_destination({"country": country}, field="query")
    return default_engine().availability(product_of(item), destination.country)
