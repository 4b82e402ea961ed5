"""The catalog's lean router: dispatch on API Gateway's matched resource, contract error bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.domain.errors import NotFound

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
