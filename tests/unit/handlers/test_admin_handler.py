"""The admin function's ``lambda_handler``: group policy from the Cognito claims, and a
product PUT against the in-memory product store."""

from __future__ import annotations

import json

import pytest

from tests.unit.handlers.conftest import Fakes, Invoke, api_event, body_of

pytestmark = pytest.mark.unit


def test_support_may_not_put_a_product(invoke: Invoke, fakes: Fakes) -> None:
    response = invoke("admin", api_event("admin-put-product.json", groups="support"))
    assert response["statusCode"] == 403
    assert body_of(response)["error"]["code"]
    assert "BONE-BROTH-BOOK" not in fakes.products.items


def test_no_claims_is_401_before_the_body_is_read(invoke: Invoke) -> None:
    event = api_event("admin-put-product.json", claims=False, body="{not json")
    assert invoke("admin", event)["statusCode"] == 401


def test_ops_create_then_replace_a_product(invoke: Invoke, fakes: Fakes) -> None:
    created = invoke("admin", api_event("admin-put-product.json"))
    assert created["statusCode"] == 201, created["body"]
    view = body_of(created)
    assert (view["sku"], view["stock"], view["available"], view["reserved"]) == (
        "BONE-BROTH-BOOK",
        25,
        25,
        0,
    )
    assert fakes.products.get("BONE-BROTH-BOOK") is not None
    product = json.loads(api_event("admin-put-product.json")["body"])
    replaced = invoke("admin", api_event("admin-put-product.json", body={**product, "stock": 40}))
    assert replaced["statusCode"] == 200
    assert body_of(replaced)["stock"] == 40


def test_unknown_ingredient_is_422_and_not_stored(invoke: Invoke, fakes: Fakes) -> None:
    product = {
        "name": "Mystery capsules",
        "kind": "physical",
        "category": "supplement",
        "price": {"amount": 1500, "currency": "USD"},
        "stock": 10,
        "attributes": {"supply_days": 30, "ingredients": {"unobtainium": {}}},
    }
    event = api_event("admin-put-product.json", path_params={"sku": "MYSTERY-30"}, body=product)
    response = invoke("admin", event)
    assert response["statusCode"] == 422, response["body"]
    error = body_of(response)["error"]
    assert error["code"] == "unknown_ingredient"
    assert {"field": "attributes.ingredients", "ingredient": "unobtainium"} in error["details"]
    assert "MYSTERY-30" not in fakes.products.items


def test_path_and_body_sku_must_agree(invoke: Invoke, fakes: Fakes) -> None:
    product = json.loads(api_event("admin-put-product.json")["body"])
    event = api_event("admin-put-product.json", body={**product, "sku": "OTHER-SKU"})
    response = invoke("admin", event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "sku_mismatch"
