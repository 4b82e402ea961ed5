"""The lean router (catalog, eligibility): dispatch on API Gateway's matched resource,
contract error bodies, bodies validated as on Powertools' routes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, Field

from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.domain.errors import NotFound
from bonestore.service.carts import EligibilityRequest
from tests.powertools_resolver import create_app

pytestmark = pytest.mark.unit


def _router() -> LiteRouter:
    router = LiteRouter(cors_origin="https://shop.example")

    @router.get("/things/{id}", summary="one thing", query_params=("country",))
    def one(request: LiteRequest) -> dict[str, Any]:
        if request.path_params["id"] == "missing":
            raise NotFound("no such thing", code="unknown_thing")
        if request.path_params["id"] == "boom":
            raise RuntimeError("bug")
        return {"id": request.path_params["id"], "country": request.query.get("country")}

    return router


def _event(method: str, resource: str, **extra: Any) -> dict[str, Any]:
    return {"httpMethod": method, "resource": resource, "path": resource, **extra}


def test_dispatches_on_the_resource_with_parameters_and_cors() -> None:
    response = _router().resolve(
        _event(
            "GET",
            "/things/{id}",
            pathParameters={"id": "a1"},
            queryStringParameters={"country": "CA"},
        )
    )
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"id": "a1", "country": "CA"}
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://shop.example"


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (_event("GET", "/things/{id}", pathParameters={"id": "missing"}), 404, "unknown_thing"),
        (_event("GET", "/other"), 404, "not_found"),
        (_event("POST", "/things/{id}", pathParameters={"id": "x"}), 405, "method_not_allowed"),
        (_event("GET", "/things/{id}", pathParameters={"id": "boom"}), 500, "internal_error"),
    ],
)
def test_errors_use_the_contract_body(event: dict[str, Any], status: int, code: str) -> None:
    response = _router().resolve(event)
    assert response["statusCode"] == status
    body = json.loads(response["body"])
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_openapi_is_generated_by_powertools_for_the_same_routes() -> None:
    document = json.loads(_router().get_openapi_json_schema(title="t"))
    operation = document["paths"]["/things/{id}"]["get"]
    assert operation["summary"] == "one thing"
    assert {p["name"] for p in operation["parameters"]} == {"id", "country"}


def test_cache_control_only_on_a_route_that_asks_and_only_on_success() -> None:
    router = _router()

    @router.get("/fixed", summary="the same for everyone", cache_control="public, max-age=60")
    def fixed(request: LiteRequest) -> dict[str, Any]:
        return {"ok": True}

    assert router.resolve(_event("GET", "/fixed"))["headers"]["Cache-Control"] == (
        "public, max-age=60"
    )
    other = router.resolve(_event("GET", "/things/{id}", pathParameters={"id": "a"}))
    assert "Cache-Control" not in other["headers"]
    missing = router.resolve(_event("GET", "/things/{id}", pathParameters={"id": "missing"}))
    assert missing["statusCode"] == 404 and "Cache-Control" not in missing["headers"]


def test_catalog_serves_countries() -> None:
    import importlib.util

    from bonestore_infra.template import REPO_ROOT

    spec = importlib.util.spec_from_file_location(
        "catalog_app_under_test", REPO_ROOT / "functions" / "catalog" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    response = module.app.resolve(_event("GET", "/countries"))
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert any(item["code"] == "CA" for item in body["items"])


# -- a route with a body: the same answers as a Powertools route validating the same model


def _body_routers() -> tuple[LiteRouter, Any]:
    """The eligibility request on the lean router and on Powertools' resolver (as
    ``/support/eligibility`` takes it): both answer with what they validated."""
    lite = LiteRouter()

    @lite.post("/cart", summary="cart", body_model="x:y", responses={})
    def lite_cart(request: LiteRequest) -> dict[str, Any]:
        return request.validated(EligibilityRequest).model_dump(mode="json")

    powertools = create_app(enable_validation=True)

    @powertools.post("/cart")
    def powertools_cart(cart: Annotated[EligibilityRequest, Body()]) -> dict[str, Any]:
        return cart.model_dump(mode="json")

    return lite, powertools


def _body_event(body: Any, content_type: str = "application/json") -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return {
        "httpMethod": "POST",
        "resource": "/cart",
        "path": "/cart",
        "headers": {"Content-Type": content_type},
        "multiValueHeaders": {"Content-Type": [content_type]},
        "requestContext": {"resourcePath": "/cart", "httpMethod": "POST", "stage": "test"},
        "body": raw,
        "isBase64Encoded": False,
    }


GOOD_CART = {
    "destination": {"country": "US", "subdivision": "NY"},
    "items": [{"sku": "TRUEOSTEO-120", "quantity": 2, "price": 1}],
    "at": "2026-01-31T00:00:00Z",
}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (GOOD_CART, "application/json"),
        (GOOD_CART, "application/json; charset=utf-8"),
        ("", "application/json"),
        ({}, "application/json"),
        ({**GOOD_CART, "items": []}, "application/json"),
        ({**GOOD_CART, "items": [{"sku": "A", "quantity": 0}]}, "application/json"),
        ({**GOOD_CART, "items": [{"sku": "A", "quantity": "2"}]}, "application/json"),
        ({**GOOD_CART, "items": [{"sku": "", "quantity": 1}, {"quantity": 1}]}, "application/json"),
        ({**GOOD_CART, "destination": {"country": "US", "zip": "1"}}, "application/json"),
        ({**GOOD_CART, "destination": "US"}, "application/json"),
        ({**GOOD_CART, "at": "2026-01-31T00:00:00"}, "application/json"),
        ({**GOOD_CART, "extra": 1}, "application/json"),
        ({"items": [{"sku": "A", "quantity": 1}]}, "application/json"),
        ("[1, 2]", "application/json"),
        ("{not json", "application/json"),
        (GOOD_CART, "text/plain"),
    ],
    ids=[
        "good",
        "charset",
        "no-body",
        "empty-object",
        "no-items",
        "zero-quantity",
        "string-quantity",
        "two-bad-lines",
        "unknown-destination-field",
        "destination-not-object",
        "naive-time",
        "unknown-field",
        "no-destination",
        "array",
        "not-json",
        "not-json-media-type",
    ],
)
def test_a_body_route_answers_as_a_powertools_route_validating_the_same_model(
    body: Any, content_type: str
) -> None:
    """Contract v2's error rules hold on every route alike: the lean router's validation
    of a body is not a second reading of the request, but the same model's, its errors
    mapped to the same status, code, message and details."""
    lite, powertools = _body_routers()
    event = _body_event(body, content_type)
    mine = lite.resolve(event)
    theirs = powertools.resolve(event, None)
    assert mine["statusCode"] == theirs["statusCode"]
    assert json.loads(mine["body"]) == json.loads(theirs["body"])


def test_a_body_route_refuses_what_the_contract_refuses_before_validating() -> None:
    lite, _ = _body_routers()
    big = _body_event({**GOOD_CART, "pad": "x" * (64 * 1024)})
    assert lite.resolve(big)["statusCode"] == 413
    assert json.loads(lite.resolve(_body_event("\udcff"))["body"])["error"]["code"] == (
        "invalid_json"
    )


# -- a staff router: the caller's group first, then the route (the admin function)


def _staff_router() -> LiteRouter:
    from bonestore.api.auth import WRITE_GROUPS
    from bonestore.api.lite_http import LiteResponse

    router = LiteRouter(policy={("PUT", "/things/{id}"): WRITE_GROUPS})

    @router.put("/things/{id}", summary="put a thing", body_model="x:y")
    def put(request: LiteRequest) -> LiteResponse:
        principal = request.principal
        assert principal is not None
        body = request.validated(EligibilityRequest)
        return LiteResponse(201, {"by": principal.username, "lines": len(body.items)})

    @router.delete("/things/{id}", summary="delete a thing")
    def delete(request: LiteRequest) -> dict[str, Any]:  # no policy entry: ops only
        return {"deleted": request.path_params["id"]}

    return router


def _staff_event(method: str, groups: str | None, body: Any = None) -> dict[str, Any]:
    claims = None if groups is None else {"cognito:username": "dana", "cognito:groups": groups}
    event = _event(
        method,
        "/things/{id}",
        pathParameters={"id": "t1"},
        headers={"Content-Type": "application/json"},
        requestContext={"authorizer": {"claims": claims}} if claims else {},
    )
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


@pytest.mark.parametrize(
    ("method", "groups", "body", "status", "code"),
    [
        ("PUT", None, "{not json", 401, "unauthorized"),  # before the body is read
        ("PUT", "support", "{not json", 403, "forbidden"),
        ("PUT", "support,ops", "{not json", 400, "invalid_json"),
        ("PUT", "ops", {**GOOD_CART, "items": []}, 400, "invalid_items"),
        ("DELETE", "support", None, 403, "forbidden"),  # not in the policy: ops only
        ("GET", "support", None, 403, "forbidden"),  # an unknown route: its group first
        ("GET", "ops", None, 405, "method_not_allowed"),
    ],
)
def test_a_staff_router_checks_the_group_before_the_route_and_body(
    method: str, groups: str | None, body: Any, status: int, code: str
) -> None:
    response = _staff_router().resolve(_staff_event(method, groups, body))
    assert response["statusCode"] == status, response["body"]
    assert json.loads(response["body"])["error"]["code"] == code


def test_a_staff_route_gets_its_caller_and_answers_with_its_status() -> None:
    router = _staff_router()
    created = router.resolve(_staff_event("PUT", "ops", GOOD_CART))
    assert created["statusCode"] == 201, created["body"]
    assert json.loads(created["body"]) == {"by": "dana", "lines": 1}
    deleted = router.resolve(_staff_event("DELETE", "ops"))
    assert (deleted["statusCode"], json.loads(deleted["body"])) == (200, {"deleted": "t1"})


# -- a query string: the same answers as Powertools' Query() of the same constraints


class _Query(BaseModel):
    email: Annotated[
        str | None, Field(min_length=3, max_length=20, pattern=r"^[^@\s]+@[^@\s]+$")
    ] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


def _query_routers() -> tuple[LiteRouter, Any]:
    lite = LiteRouter()

    @lite.get("/orders", summary="orders", query_model=_Query)
    def lite_orders(request: LiteRequest) -> dict[str, Any]:
        return request.validated_query(_Query).model_dump()

    powertools = create_app(enable_validation=True)

    @powertools.get("/orders")
    def powertools_orders(
        email: Annotated[
            str | None, Query(min_length=3, max_length=20, pattern=r"^[^@\s]+@[^@\s]+$")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        return {"email": email, "limit": limit}

    return lite, powertools


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"email": "a@b.c", "limit": "5"},
        {"email": "x"},
        {"email": "a b@c"},
        {"email": "a" * 30 + "@b.c"},
        {"limit": "abc"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "1.5"},
        {"other": "ignored"},
    ],
)
def test_a_query_model_answers_as_powertools_query_parameters(query: dict[str, str]) -> None:
    lite, powertools = _query_routers()
    event = {
        "httpMethod": "GET",
        "resource": "/orders",
        "path": "/orders",
        "headers": {},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "requestContext": {"resourcePath": "/orders", "httpMethod": "GET", "stage": "test"},
    }
    mine, theirs = lite.resolve(event), powertools.resolve(event, None)
    assert mine["statusCode"] == theirs["statusCode"]
    assert json.loads(mine["body"]) == json.loads(theirs["body"])


def test_a_query_model_is_documented_as_powertools_documents_query_parameters() -> None:
    lite, powertools = _query_routers()
    mine = json.loads(lite.get_openapi_json_schema(title="t"))["paths"]["/orders"]["get"]
    theirs = json.loads(powertools.get_openapi_json_schema(title="t"))["paths"]["/orders"]["get"]
    assert mine["parameters"] == theirs["parameters"]
