"""Checkout function: POST /checkout (public).

Wiring only: the use case (pricing, the rules, the reservation, the Stripe session,
the compensation when Stripe fails, Idempotency-Key) is
``bonestore.service.checkout.CheckoutService``.

DynamoDB round trips before Stripe: one BatchGetItem (products), one
TransactWriteItems (order + stock). ``stripe`` is imported on the first request.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.api.deps import checkout_once_per_key, checkout_service
from bonestore.api.http import create_app, documented
from bonestore.config import get_settings
from bonestore.service.checkout import CheckoutRequest, CheckoutService

logger = Logger()
app = create_app(enable_validation=True, cors_origin=get_settings().storefront_origin)


RESPONSES = documented(
    {201: ("CheckoutCreated", "Checkout created: stock reserved, pay at checkout_url")},
    {
        400: "Invalid request (unknown_sku, invalid_quantity, invalid_idempotency_key...)",
        409: "out_of_stock (details name the SKUs), idempotency_key_reused, request_in_progress",
        422: "not_shippable: details are the per-line decisions",
        429: "rate_limited: more than a fair share of a product's stock (Retry-After)",
        503: "payment_provider_unavailable or service_busy: nothing is reserved; retry",
    },
)


@app.post(
    "/checkout",
    summary="Reserve stock and open a Stripe Checkout Session for a cart",
    responses=RESPONSES,
)
def create_checkout(
    request: Annotated[CheckoutRequest, Body()],
    checkout: Annotated[CheckoutService, Depends(checkout_service)],
) -> Response[str]:
    checkout_once_per_key().lambda_context = app.lambda_context
    body = checkout.create(
        request, idempotency_key=app.current_event.headers.get("Idempotency-Key")
    )
    logger.append_keys(order_id=body["order_id"])
    return Response(status_code=201, content_type="application/json", body=json.dumps(body))


@logger.inject_lambda_context(
    clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
