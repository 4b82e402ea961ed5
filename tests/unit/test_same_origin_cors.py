"""``STOREFRONT_ORIGIN=same-origin`` (production: storefront and API behind one
CloudFront distribution) means no CORS at all: no function, the catalog's lean router
included, sends an ``Access-Control-Allow-Origin`` header (docs/deploy.md#cors)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bonestore.api import deps
from bonestore.config import Settings, get_settings
from tests.helpers import fresh_function_module
from tests.unit.handlers.conftest import FakeLambdaContext, api_event, seeded_products

pytestmark = pytest.mark.unit


def test_same_origin_reads_as_no_cors_origin() -> None:
    assert Settings.from_environ({"STOREFRONT_ORIGIN": "same-origin"}).storefront_origin is None
    assert Settings.from_environ({}).storefront_origin == "*"
    explicit = Settings.from_environ({"STOREFRONT_ORIGIN": "https://shop.example.com"})
    assert explicit.storefront_origin == "https://shop.example.com"


@pytest.fixture
def origin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The functions' settings read with STOREFRONT_ORIGIN set (they read it at import)."""
    monkeypatch.setenv("STOREFRONT_ORIGIN", request.param)
    get_settings.cache_clear()
    products = seeded_products()
    with deps.override(deps.product_repository, lambda: products):
        yield request.param
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("origin", "expected"),
    [("same-origin", None), ("https://shop.example.com", "https://shop.example.com")],
    indirect=["origin"],
)
@pytest.mark.parametrize(
    ("function", "fixture"),
    [("catalog", "catalog-list-products.json"), ("eligibility", "eligibility-post.json")],
)
def test_a_browser_request_gets_a_cors_header_only_for_an_allowed_origin(
    origin: str, expected: str | None, function: str, fixture: str
) -> None:
    module = fresh_function_module(function, "cors")
    event = api_event(fixture, headers={"Origin": "https://shop.example.com"})
    response = module.lambda_handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    allowed = (
        headers.get("access-control-allow-origin")
        or (multi.get("access-control-allow-origin") or [None])[0]
    )
    assert allowed == expected
