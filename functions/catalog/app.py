"""Catalog function: GET /products, GET /products/{sku} (public).

Cold start is a product metric here (every page view lands on it), so this
module imports only the resolver and the DynamoDB adapter; the rules engine is
loaded on the first request that asks for ``?country=``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.adapters.products import ProductRepository
from bonestore.config import get_settings
from bonestore.deps import product_repository
from bonestore.errors import NotFound
from bonestore.http import create_app
from bonestore.product_view import public_product

logger = Logger()
app = create_app(cors_origin=get_settings().storefront_origin)


def _with_availability(items: list[dict[str, Any]], country: str | None) -> list[dict[str, Any]]:
    views = [public_product(item) for item in items]
    if country is None:
        return views
    from bonestore.catalog_availability import availability_for

    for view, item in zip(views, items, strict=True):
        view["availability"] = availability_for(item, country)
    return views


@app.get("/products")
def list_products(
    products: Annotated[ProductRepository, Depends(product_repository)],
) -> dict[str, Any]:
    country = app.current_event.get_query_string_value("country")
    return {"items": _with_availability(products.list(), country)}


@app.get("/products/<sku>")
def get_product(
    sku: str, products: Annotated[ProductRepository, Depends(product_repository)]
) -> dict[str, Any]:
    country = app.current_event.get_query_string_value("country")
    item = products.get(sku.upper())
    if item is None:
        raise NotFound(f"No product with SKU {sku!r}.", code="unknown_sku")
    return _with_availability([item], country)[0]


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
