"""The catalog function's ``lambda_handler`` with API Gateway events and in-memory products."""

from __future__ import annotations

import pytest

from tests.unit.handlers.conftest import Fakes, Invoke, api_event, body_of

pytestmark = pytest.mark.unit


def test_lists_the_active_catalog_in_listing_order(invoke: Invoke, fakes: Fakes) -> None:
    fakes.products.deactivate("D3K2-60")
    response = invoke("catalog", api_event("catalog-list-products.json"))
    assert response["statusCode"] == 200
    skus = [item["sku"] for item in body_of(response)["items"]]
    assert skus[0] == "TRUEOSTEO-120"
    assert "D3K2-60" not in skus and "ORP-EBOOK" in skus
    assert all("availability" not in item for item in body_of(response)["items"])


def test_one_product_by_sku_in_any_case(invoke: Invoke) -> None:
    event = api_event("catalog-get-product.json", path_params={"sku": "trueosteo-120"})
    response = invoke("catalog", event)
    assert response["statusCode"] == 200
    product = body_of(response)
    assert product["sku"] == "TRUEOSTEO-120"
    assert product["price"] == {"amount": 4995, "currency": "USD"}
    assert "reserved" not in product  # the public view hides the counters


def test_unknown_sku_is_404_with_the_contract_error_body(invoke: Invoke) -> None:
    event = api_event("catalog-get-product.json", path_params={"sku": "NO-SUCH-SKU"})
    response = invoke("catalog", event)
    assert response["statusCode"] == 404
    assert body_of(response)["error"]["code"] == "unknown_sku"


def test_country_adds_availability_with_the_reasons(invoke: Invoke) -> None:
    response = invoke("catalog", api_event("catalog-list-products.json", query={"country": "DE"}))
    assert response["statusCode"] == 200
    items = {item["sku"]: item["availability"] for item in body_of(response)["items"]}
    assert items["TRUEOSTEO-120"]["eligible"] is True
    melatonin = items["RESTWELL-60"]
    assert (melatonin["country"], melatonin["eligible"]) == ("DE", False)
    assert [r["code"] for r in melatonin["reasons"]] == ["not_permitted_ingredient"]
    event = api_event(
        "catalog-get-product.json", path_params={"sku": "RESTWELL-60"}, query={"country": "DE"}
    )
    assert body_of(invoke("catalog", event))["availability"] == melatonin


def test_an_unreadable_stored_product_is_left_out_not_a_500(invoke: Invoke, fakes: Fakes) -> None:
    """One malformed item (no kind) must not take the catalog down; it is not for sale."""
    fakes.products.items["BROKEN-1"] = {"sku": "BROKEN-1", "name": "half written"}
    response = invoke("catalog", api_event("catalog-list-products.json"))
    assert response["statusCode"] == 200
    assert "BROKEN-1" not in {item["sku"] for item in body_of(response)["items"]}
    event = api_event("catalog-get-product.json", path_params={"sku": "BROKEN-1"})
    response = invoke("catalog", event)
    assert response["statusCode"] == 404
    assert body_of(response)["error"]["code"] == "unknown_sku"
