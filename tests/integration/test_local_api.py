"""The local API over real HTTP: catalog, errors, and routing taken from the template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bonestore.domain.catalog import seed_catalog
from bonestore_infra.local_stack import LocalStack, StackConfig
from bonestore_infra.template import REPO_ROOT
from tests.helpers import Http, assert_error

pytestmark = pytest.mark.integration

# The policy table itself is asserted literally in tests/unit/test_catalog.py.
SEED_SKUS = {product.sku for product in seed_catalog()}


def test_lists_the_seven_seed_products(api: Http) -> None:
    response = api.get("/products")
    assert response.status == 200
    items = response.json()["items"]
    assert {p["sku"] for p in items} >= SEED_SKUS
    product = next(p for p in items if p["sku"] == "TRUEOSTEO-120")
    assert product == {
        "sku": "TRUEOSTEO-120",
        "name": "TrueOsteo bone-health formula, 120 capsules",
        "description": product["description"],
        "kind": "physical",
        "category": "supplement",
        "price": {"amount": 4995, "currency": "USD"},
        "in_stock": True,
        "position": 10,
    }
    assert "availability" not in product
    # Catalog order, not SKU order: the flagship first, as the seed's positions say.
    seeded = [p["sku"] for p in items if p["sku"] in SEED_SKUS]
    assert seeded == [p.sku for p in sorted(seed_catalog(), key=lambda p: p.position)]
    assert seeded[0] == "TRUEOSTEO-120" and seeded != sorted(seeded)


def test_gets_one_product(api: Http) -> None:
    response = api.get("/products/ORP-EBOOK")
    assert response.status == 200
    body = response.json()
    assert body["sku"] == "ORP-EBOOK" and body["kind"] == "digital"
    assert body["price"] == {"amount": 9700, "currency": "USD"}


def test_sku_lookup_is_case_insensitive(api: Http) -> None:
    assert api.get("/products/orp-ebook").json()["sku"] == "ORP-EBOOK"


def test_unknown_sku_is_404_unknown_sku(api: Http) -> None:
    assert_error(api.get("/products/NOPE-1"), 404, "unknown_sku")


@pytest.mark.parametrize(
    "path",
    ["/nothing", "/products/a/b", "/products/../admin", "/PRODUCTS", "/products%2F", "/%00"],
)
def test_unknown_paths_are_404_with_the_error_body(api: Http, path: str) -> None:
    response = api.get(path)
    assert 400 <= response.status < 500
    assert_error(response, response.status)


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/products"), ("POST", "/products/X")])
def test_wrong_method_is_405_with_the_error_body(api: Http, method: str, path: str) -> None:
    response = api.request(method, path, {})
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_availability_by_country(api: Http) -> None:
    response = api.get("/products/TRUEOSTEO-120?country=ca")
    assert response.status == 200
    availability = response.json()["availability"]
    assert availability["country"] == "CA"
    assert availability["eligible"] is False
    assert availability["reasons"] and all(r["rule_id"] for r in availability["reasons"])


def test_availability_needs_a_real_country(api: Http) -> None:
    assert_error(api.get("/products?country=ZZ"), 400, "invalid_country")
    assert_error(api.get("/products?country="), 400, "invalid_country")


def test_oversized_body_is_refused_cleanly(api: Http) -> None:
    response = api.request("POST", "/eligibility", raw=b"x" * (7 * 1024 * 1024))
    assert_error(response, 413, "payload_too_large")


def test_storefront_page_is_served_at_root(api: Http) -> None:
    response = api.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")


MINI_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  CatalogFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code_uri}
      Handler: app.lambda_handler
      Environment:
        Variables:
          PRODUCTS_TABLE: !Ref ProductsTable
      Events:
        OnlyOneProduct:
          Type: Api
          Properties:
            Path: /items/{{sku}}
            Method: GET
  ProductsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: sku, AttributeType: S}}]
      KeySchema: [{{AttributeName: sku, KeyType: HASH}}]
"""


@pytest.fixture
def mini_stack(tmp_path: Path) -> Iterator[Any]:
    """A stack from a test template whose only route is GET /items/{sku} -> the catalog code."""
    # The catalog's router only knows /products/{sku}; give the test route its own handler
    # file that delegates with the route rewritten, so routing is proved to be the template's.
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        "import importlib.util, pathlib\n"
        f"spec = importlib.util.spec_from_file_location('cat', {str(REPO_ROOT / 'functions/catalog/app.py')!r})\n"
        "cat = importlib.util.module_from_spec(spec); spec.loader.exec_module(cat)\n"
        "def lambda_handler(event, context):\n"
        "    event = dict(event, resource=event['resource'].replace('/items/', '/products/', 1))\n"
        "    return cat.lambda_handler(event, context)\n"
    )
    template = tmp_path / "template.yaml"
    template.write_text(MINI_TEMPLATE.format(code_uri=str(code)))
    stack = LocalStack(
        StackConfig(
            api_port=0, dynamodb_port=0, template_path=template, with_stripe=False, stripe_port=0
        )
    ).start()
    yield stack
    stack.stop()


def test_routing_comes_from_the_template(mini_stack: Any) -> None:
    http = Http(mini_stack.api_url)
    served = http.get("/items/ORP-EBOOK")
    assert served.status == 200, served.body
    assert served.json()["sku"] == "ORP-EBOOK"
    # /products exists in the catalog code but not in this template: not served.
    assert_error(http.get("/products"), 404, "not_found")
    assert_error(http.get("/products/ORP-EBOOK"), 404, "not_found")


def test_countries_shape_an_address_form(api: Http) -> None:
    response = api.get("/countries")
    assert response.status == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=86400")
    items = response.json()["items"]
    canada = next(item for item in items if item["code"] == "CA")
    assert canada["postal_code"]["example"] == "K1A 0B1"
    assert {"code": "CA-ON", "name": "Ontario"} in canada["subdivisions"]
    us = next(item for item in items if item["code"] == "US")
    assert {"code": "US-AP", "name": "Armed Forces Pacific"} in us["subdivisions"]
    assert len(items) == 249
    assert_error(api.post("/countries", {}), 405, "method_not_allowed")
