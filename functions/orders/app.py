"""Orders function: GET /orders/{order_id} (public, opened with the order's token).

The customer's order page asks here what happened to their order. A small function of
its own so its cold start pays only for this: the lean router of
``bonestore.api.lite_http`` (no Powertools, no pydantic at import), the order store,
and the view (``bonestore.service.customer_orders``). It reads the orders table and
holds no secret: the token is checked against the hash the order stores.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from typing import Any

from bonestore.api.deps import order_repository
from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.config import get_settings
from bonestore.service.customer_orders import customer_order

logger = logging.getLogger("bonestore.orders")
logger.setLevel(logging.INFO)
app = LiteRouter(cors_origin=get_settings().storefront_origin)

# Tests replace the provider: ``app_module.orders = lambda: fake``.
orders = order_repository


@app.get(
    "/orders/{order_id}",
    summary="The customer's own order and what happens next (header X-Order-Token)",
    header_params=("X-Order-Token",),
    response_model="bonestore.api.schemas:CustomerOrderOut",
    errors=(404,),
    # One customer's order: never kept by a browser, a proxy or API Gateway's cache.
    cache_control="private, no-store",
)
def get_order(request: LiteRequest) -> dict[str, Any]:
    return customer_order(
        orders(), request.path_params.get("order_id", ""), request.header("X-Order-Token")
    )


@resumed_after_first_call
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The path names the order; the token is never logged.
    return app.handle(event, context, logger)
