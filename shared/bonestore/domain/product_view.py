"""The public view of a stored product. Plain dicts only: no pydantic on the catalog's cold path."""

from __future__ import annotations

from typing import Any


def public_product(item: dict[str, Any]) -> dict[str, Any]:
    """The contract's Product from a stored item (no availability)."""
    kind = item["kind"]
    stock = item.get("stock")
    return {
        "sku": item["sku"],
        "name": item["name"],
        "description": item.get("description", ""),
        "kind": kind,
        "category": item["category"],
        "price": {"amount": int(item["price"]["amount"]), "currency": item["price"]["currency"]},
        "in_stock": kind == "digital" or (stock is not None and int(stock) > 0),
        "position": int(item.get("position", 1000)),
    }


def listing_order(item: dict[str, Any]) -> tuple[int, str]:
    """Catalog order: ``position`` (products stored before it existed come last), then SKU."""
    return int(item.get("position", 1000)), str(item["sku"])
