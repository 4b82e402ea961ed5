"""The product a customer sees, built from a stored item, and the catalog's order.

Plain dicts only: no pydantic on the catalog function's cold path. The product model
(``bonestore.domain.catalog``) takes its listing default and its in-stock test from here,
so the two never disagree.
"""

from __future__ import annotations

from typing import Any

# Where a product without a stated position is listed (after every product given one).
DEFAULT_POSITION = 1000


def is_in_stock(kind: str, stock: int | None) -> bool:
    """Digital goods are always in stock; physical ones while units are for sale."""
    return kind == "digital" or (stock is not None and stock > 0)


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
        # Upper-cased as the Money model reads it: an item written before it normalized
        # (or by hand) must not show "usd" where the contract says ISO 4217's "USD".
        "price": {
            "amount": int(item["price"]["amount"]),
            "currency": str(item["price"]["currency"]).upper(),
        },
        "in_stock": is_in_stock(kind, None if stock is None else int(stock)),
        "position": int(item.get("position", DEFAULT_POSITION)),
    }


def listing_order(item: dict[str, Any]) -> tuple[int, str]:
    """Catalog order: ``position`` (products stored before it existed come last), then SKU."""
    return int(item.get("position", DEFAULT_POSITION)), str(item["sku"])
