"""template.yaml is the source of truth for routes and tables: parse it like the local server does."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonestore_infra.local_aws import IntrinsicResolver
from bonestore_infra.template import Route, Template

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def template() -> Template:
    return Template()


def test_every_contract_route_is_in_the_template(template: Template) -> None:
    routes = {(r.method, r.path) for r in template.routes()}
    assert {
        ("GET", "/products"),
        ("GET", "/products/{sku}"),
        ("POST", "/eligibility"),
        ("POST", "/checkout"),
        ("POST", "/webhooks/stripe"),
        ("GET", "/support/orders/{order_id}"),
        ("GET", "/support/orders"),
        ("POST", "/support/eligibility"),
        ("PUT", "/admin/products/{sku}"),
        ("DELETE", "/admin/products/{sku}"),
        ("GET", "/admin/rules"),
    } <= routes


def test_staff_routes_have_the_cognito_authorizer_and_public_ones_none(template: Template) -> None:
    for route in template.routes():
        staff = route.path.startswith(("/support", "/admin"))
        assert (route.authorizer == "CognitoAuthorizer") is staff, route


def test_every_function_handler_file_is_where_the_template_says(template: Template) -> None:
    for function in template.functions().values():
        assert function.module_path.is_file(), function


def test_route_patterns_bind_path_parameters() -> None:
    route = Route("GET", "/products/{sku}", "CatalogFunction", "GetProduct", None)
    match = route.pattern.match("/products/ORP-EBOOK")
    assert match is not None and match.group("sku") == "ORP-EBOOK"
    assert route.pattern.match("/products/ORP-EBOOK/extra") is None
    assert route.pattern.match("/products/") is None


def test_literal_routes_are_preferred_over_parameters(tmp_path: Path) -> None:
    text = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/catalog/
      Handler: app.lambda_handler
      Events:
        Param: {Type: Api, Properties: {Path: "/things/{id}", Method: get}}
        Literal: {Type: Api, Properties: {Path: /things/special, Method: get}}
        Greedy: {Type: Api, Properties: {Path: "/files/{proxy+}", Method: any}}
"""
    (tmp_path / "t.yaml").write_text(text)
    routes = Template(tmp_path / "t.yaml").routes()
    matching = [r.event_id for r in routes if r.pattern.match("/things/special")]
    assert matching[0] == "Literal"
    greedy = next(r for r in routes if r.event_id == "Greedy")
    found = greedy.pattern.match("/files/a/b/c")
    assert found is not None and found.group("proxy") == "a/b/c"
    assert greedy.method == "ANY"


def test_function_environment_resolves_to_local_names(template: Template) -> None:
    resolver = IntrinsicResolver(template)
    env = template.functions()["CheckoutFunction"].environment
    resolved = {k: resolver.resolve(v) for k, v in env.items()}
    assert resolved["PRODUCTS_TABLE"] == "ProductsTable"
    assert resolved["ORDERS_TABLE"] == "OrdersTable"
    assert "STRIPE_API_BASE" not in resolved  # the emulator is a local-only setting


def test_tables_come_with_their_key_schemas(template: Template) -> None:
    tables = template.tables()
    assert tables["ProductsTable"]["KeySchema"] == [{"AttributeName": "sku", "KeyType": "HASH"}]
    indexes = {i["IndexName"] for i in tables["OrdersTable"]["GlobalSecondaryIndexes"]}
    assert {"by_email", "by_reservation_expiry"} <= indexes
