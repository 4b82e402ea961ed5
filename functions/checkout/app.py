"""Checkout function: POST /checkout (public).

Wiring only: the use case (pricing, the rules on the shipping address and method, the
reservation, the Stripe session that fixes both, the order token, the compensation when
Stripe fails, Idempotency-Key) is
``bonestore.service.checkout.CheckoutService``.

DynamoDB round trips before Stripe: one UpdateItem per counted key (checkouts per
minute: the address, the email), one BatchGetItem (products), one TransactWriteItems
(order + stock + the customer's share of it). ``stripe`` is imported on the first request.

Its cold start is held to 1.5x the fair floor (issue #14): it runs on the lean router of
``bonestore.api.lite_http`` with stdlib logging, not Powertools' resolver and Logger
(~45-55 ms CPU of a cold start here). The body is validated by the same pydantic model,
its errors answered in the same body.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from typing import Any

from bonestore import log_context
from bonestore.adapters.secrets import forget_cached_secrets
from bonestore.api.client_address import VIEWER_ADDRESS_HEADER, client_address
from bonestore.api.deps import checkout_once_per_key, checkout_service
from bonestore.api.lite_http import LiteRequest, LiteResponse, LiteRouter
from bonestore.api.observability import count_failed_answer, observed
from bonestore.api.responses import documented
from bonestore.api.snapstart import register, warm_dynamodb, warm_rules, warm_stripe
from bonestore.config import get_settings
from bonestore.service import metrics
from bonestore.service.checkout import CheckoutRequest

logger = logging.getLogger("bonestore.checkout")
logger.setLevel(logging.INFO)
app = LiteRouter(cors_origin=get_settings().storefront_origin)
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
    body_model=CheckoutRequest,
)
def create_checkout(request: LiteRequest) -> LiteResponse:
    cart = request.validated(CheckoutRequest)
    checkout_once_per_key().lambda_context = request.lambda_context
    body = checkout_service().create(
        cart,
        idempotency_key=request.header("Idempotency-Key"),
        client_address=client_address(request.header(VIEWER_ADDRESS_HEADER), request.source_ip),
    )
    log_context.bind(order_id=body["order_id"])
    return LiteResponse(201, body)


@resumed_after_first_call
@observed(logger)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = app.handle(event, context, logger)
    count_failed_answer(
        response, total=metrics.CHECKOUT_FAILED, by_code=metrics.CHECKOUT_FAILED_BY_CODE
    )
    return response
