"""One mapping from errors to the contract's body, whatever raised them."""

from __future__ import annotations

import pytest

from bonestore.api.validation import invalid_request
from bonestore.domain.errors import InvalidInput, NotFound

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("loc", "code"),
    [
        (("body", "items", 0, "quantity"), "invalid_quantity"),
        (("body", "destination", "country"), "invalid_country"),
        (("body", "destination", "postal_code"), "invalid_postal_code"),
        (("body", "items"), "invalid_items"),
        (("body", "success_url"), "invalid_url"),
        (("body", "whatever"), "invalid_request"),
        (("body", "shipping_address", "name"), "invalid_address"),
        (("body", "shipping_address", "city"), "invalid_address"),
        (("body", "shipping_address", "postal_code"), "invalid_postal_code"),
    ],
)
def test_validation_errors_get_field_specific_codes(loc: tuple[object, ...], code: str) -> None:
    error = invalid_request([{"loc": loc, "msg": "bad", "type": "value_error"}])
    body = error.body()
    assert error.status == 400
    assert body["error"]["code"] == code
    assert body["error"]["details"][0]["field"].endswith(str(loc[-1]))


def test_invalid_json_is_named_as_such() -> None:
    error = invalid_request([{"loc": ("body", 1), "msg": "x", "type": "json_invalid"}])
    assert error.body()["error"]["code"] == "invalid_json"


def test_domain_errors_carry_status_code_and_details() -> None:
    error = InvalidInput("bad sku", code="unknown_sku", details=[{"sku": "X"}])
    assert error.status == 400
    assert error.body() == {
        "error": {"code": "unknown_sku", "message": "bad sku", "details": [{"sku": "X"}]}
    }
    assert NotFound("gone").body() == {"error": {"code": "not_found", "message": "gone"}}
