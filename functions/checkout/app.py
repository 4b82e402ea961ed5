"""Checkout function: POST /checkout (public).

Wiring only: the use case (pricing, the rules on the shipping address and method, the
reservation, the Stripe session that fixes both, the order token, the compensation when
Stripe fails, Idempotency-Key) is
``bonestore.service.checkout.CheckoutService``.

DynamoDB round trips before Stripe: one UpdateItem per counted key (checkouts per
minute: the address, the email), one BatchGetItem (products), one TransactWriteItems
(order + stock + the customer's share of it). ``stripe`` is imported on the first request.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import json
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.adapters.secrets import forget_cached_secrets
from bonestore.api.client_address import VIEWER_ADDRESS_HEADER, client_address
from bonestore.api.deps import checkout_once_per_key, checkout_service
from bonestore.api.http import create_app
from bonestore.api.observability import count_failed_answer, observed
from bonestore.api.responses import documented
from bonestore.api.snapstart import register, warm_dynamodb, warm_rules, warm_stripe
from bonestore.config import get_settings
from bonestore.service import metrics
from bonestore.service.checkout import CheckoutRequest, CheckoutService

logger = Logger()
app = create_app(enable_validation=True, cors_origin=get_settings().storefront_origin)
# SnapStart (template.yaml): the snapshot holds the ruleset and clients' models loaded.
register(warm_rules, warm_dynamodb, warm_stripe, after_restore=[forget_cached_secrets])


RESPONSES = documented(
    {201: ("CheckoutCreated", "Checkout created: stock reserved, pay at checkout_url")},
    {
        400: "Invalid request (unknown_sku, invalid_quantity, invalid_country, "
        "invalid_subdivision, invalid_postal_code, invalid_address, invalid_idempotency_key...)",
        409: "out_of_stock (details name the SKUs), idempotency_key_reused, request_in_progress "
        "(with Retry-After when the same cart's checkout is still being opened)",
        422: "not_shippable (details: the per-line decisions), shipping_address_required "
        "(a physical cart without the complete shipping_address), shipping_method_unavailable "
        "(details: the rule's reasons and the methods offered there)",
        429: "rate_limited (Retry-After): this customer already holds their share of a "
        "product's stock or of open checkouts, or started too many checkouts in a minute",
        503: "payment_provider_unavailable or service_busy (Retry-After): nothing is reserved; "
        "retry. checkout_unavailable: paused by the kill switch, answered at the edge",
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
    event = app.current_event
    body = checkout.create(
        request,
        idempotency_key=event.headers.get("Idempotency-Key"),
        client_address=client_address(
            event.headers.get(VIEWER_ADDRESS_HEADER),
            ((event.raw_event.get("requestContext") or {}).get("identity") or {}).get("sourceIp"),
        ),
    )
    logger.append_keys(order_id=body["order_id"])
    return Response(status_code=201, content_type="application/json", body=json.dumps(body))


@resumed_after_first_call
@logger.inject_lambda_context(
    clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
)
@observed(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    count_failed_answer(
        response, total=metrics.CHECKOUT_FAILED, by_code=metrics.CHECKOUT_FAILED_BY_CODE
    )
    return response
