"""Per-country availability of stored products (the ``?country=`` view)."""

from __future__ import annotations

from typing import Any

from bonestore.catalog import Product
from bonestore.geo import normalize_destination
from bonestore.rules import default_engine


def product_from_item(item: dict[str, Any]) -> Product:
    fields = set(Product.model_fields)
    return Product.model_validate({k: v for k, v in item.items() if k in fields})


def availability_for(item: dict[str, Any], country: str) -> dict[str, Any]:
    destination = normalize_destination({"country": country}, field="country")
    return default_engine().availability(product_from_item(item), destination.country)
