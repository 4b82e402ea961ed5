"""Validation errors (pydantic's, whichever router ran the model) as the contract's 400.

One mapping for every function: the lean router (``bonestore.api.lite_http``) hands its
model's ``ValidationError`` here, as Powertools' resolver hands its
``RequestValidationError`` (the tests' reference, ``tests/powertools_resolver.py``, so
both answer alike). Stdlib only, so a cold start pays no Powertools for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bonestore.domain.errors import BonestoreError, InvalidInput, InvalidJson

# The contract's field-specific codes, found by the innermost field a validation error names.
FIELD_ERROR_CODES = {
    "country": "invalid_country",
    "subdivision": "invalid_subdivision",
    "postal_code": "invalid_postal_code",
    "quantity": "invalid_quantity",
    "sku": "invalid_sku",
    "items": "invalid_items",
    "email": "invalid_email",
    "at": "invalid_time",
    "success_url": "invalid_url",
    "cancel_url": "invalid_url",
    "destination": "invalid_destination",
    # Its name, line1 or city missing or malformed (contract: invalid_address); its
    # country, subdivision and postal code have their own codes, found first.
    "shipping_address": "invalid_address",
    "price": "invalid_price",
    "stock": "invalid_stock",
}
# Where a value came from, as Powertools' error locations start; not part of a field's name.
_SOURCES = ("body", "query", "path", "header")


def field_path(loc: Iterable[Any]) -> str:
    """``("body", "items", 0, "quantity")`` -> ``items[0].quantity``."""
    path = ""
    for part in loc:
        if part in _SOURCES:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def invalid_request(errors: Iterable[Mapping[str, Any]]) -> BonestoreError:
    """One field-specific 400 for a request's validation errors (``loc`` as Powertools
    reports it: the body's fields under ``"body"``)."""
    errors = list(errors)
    code = "invalid_request"
    details = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return InvalidJson("The request body is not valid JSON.")
        loc = tuple(error.get("loc", ()))
        field = field_path(loc)
        details.append({"field": field or "body", "message": error.get("msg", "invalid value")})
        if code == "invalid_request":
            for part in reversed(loc):
                if isinstance(part, str) and part in FIELD_ERROR_CODES:
                    code = FIELD_ERROR_CODES[part]
                    break
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    message = (
        f"{first['field']}: {first['message']}" if first["field"] != "body" else first["message"]
    )
    if (
        errors
        and errors[0].get("type") == "missing"
        and tuple(errors[0].get("loc", ())) == ("body",)
    ):
        message = "A JSON request body is required."
    return InvalidInput(message, code=code, details=details)
