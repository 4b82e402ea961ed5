"""Catalog function: GET /products, GET /products/{sku}, GET /countries (public).

Cold start is a product metric here (every page view lands on it, target 1.25x a
bare boto3 client), so this module imports no Powertools and no pydantic: the
lean router of ``bonestore.api.lite_http``, the DynamoDB adapter and the public
view. The rules engine is loaded on the first request that asks for ``?country=``.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from typing import Any

from bonestore.adapters.products import ProductRepository
from bonestore.api.deps import product_repository, rules_engine
from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.config import get_settings
from bonestore.domain.errors import NotFound
from bonestore.domain.product_view import public_product

logger = logging.getLogger("bonestore.catalog")
logger.setLevel(logging.INFO)
app = LiteRouter(cors_origin=get_settings().storefront_origin)

# Tests replace the provider: ``app_module.products = lambda: fake``.
products = product_repository


def _with_availability(items: list[dict[str, Any]], country: str | None) -> list[dict[str, Any]]:
    readable: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for item in items:
        try:
            readable.append((item, public_product(item)))
        except (KeyError, TypeError, ValueError):
            # A stored item the catalog cannot read is not for sale; one bad item must
            # not take the whole catalog down with a 500.
            logger.error("stored product %r is unreadable; not shown", item.get("sku"))
    if country is not None:
        from bonestore.service.catalog_availability import availability_for

        engine = rules_engine()
        for item, view in readable:
            view["availability"] = availability_for(item, country, engine)
    return [view for _, view in readable]


@app.get(
    "/products",
    summary="List the catalog, optionally with availability for a destination country",
    query_params=("country",),
    response_model="bonestore.api.schemas:ProductList",
    errors=(400,),
)
def list_products(request: LiteRequest) -> dict[str, Any]:
    repository: ProductRepository = products()
    return {"items": _with_availability(repository.list(), request.query.get("country"))}


@app.get(
    "/products/{sku}",
    summary="One product, optionally with availability for a destination country",
    query_params=("country",),
    response_model="bonestore.api.schemas:ProductOut",
    errors=(400, 404),
)
def get_product(request: LiteRequest) -> dict[str, Any]:
    sku = request.path_params.get("sku", "")
    item = products().get(sku.upper())
    views = _with_availability([item], request.query.get("country")) if item else []
    if not views:
        raise NotFound(f"No product with SKU {sku!r}.", code="unknown_sku")
    return views[0]


@app.get(
    "/countries",
    summary="Every country, with its subdivisions and postal-code format, for an address form",
    response_model="bonestore.api.schemas:CountryList",
    # The same for every caller and changes only with a deploy: browsers and API Gateway's
    # cache may keep it a day (and serve a stale copy for a week while revalidating).
    cache_control="public, max-age=86400, stale-while-revalidate=604800",
)
def list_countries(request: LiteRequest) -> dict[str, Any]:
    # Imported here: pycountry's data loads on the first call, not in the cold start.
    from bonestore.domain.countries import all_countries

    return {"items": list(all_countries())}


@resumed_after_first_call
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context, logger)
