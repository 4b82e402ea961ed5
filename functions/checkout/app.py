"""Checkout function: POST /checkout (public).

Prices the cart from the catalog, decides it with the rules, reserves stock together
with the order record (one transaction), then opens a Stripe Checkout Session. If
Stripe fails, the reservation is released and the order marked ``payment_failed``
before the client gets a retryable 503: nothing is left half done.

DynamoDB round trips before Stripe: one BatchGetItem (products), one
TransactWriteItems (order + stock). ``stripe`` is imported on the first request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.adapters.idempotency import idempotent
from bonestore.adapters.orders import OrderRepository
from bonestore.adapters.products import ProductRepository
from bonestore.adapters.secrets import StripeSecrets
from bonestore.adapters.stripe_gateway import PaymentGateway, StripeGateway
from bonestore.api.deps import order_repository, product_repository
from bonestore.api.http import create_app, documented
from bonestore.config import get_settings
from bonestore.domain.errors import BonestoreError, Conflict, InvalidInput
from bonestore.domain.orders import new_order_id, timeline_event
from bonestore.domain.privacy import mask_destination, mask_email
from bonestore.service.carts import destination_of, load_products
from bonestore.service.checkout import (
    CheckoutRequest,
    created_body,
    plan_checkout,
    shipping_rate_ids,
)

logger = Logger()
# A client retrying with the same Idempotency-Key within a day gets the same checkout.
CHECKOUT_IDEMPOTENCY_SECONDS = 24 * 3600
app = create_app(enable_validation=True, cors_origin=get_settings().storefront_origin)
_gateway: StripeGateway | None = None


def payment_gateway() -> PaymentGateway:
    """One Stripe client per warm instance; the key is read when first needed."""
    global _gateway
    if _gateway is None:
        settings = get_settings()
        secrets = StripeSecrets(settings.stripe_secret_name)
        _gateway = StripeGateway(lambda: secrets.keys().api_key, settings.stripe_api_base)
    return _gateway


RESPONSES = documented(
    {201: ("CheckoutCreated", "Checkout created: stock reserved, pay at checkout_url")},
    {
        400: "Invalid request (unknown_sku, invalid_quantity, invalid_idempotency_key...)",
        409: "out_of_stock (details name the SKUs), idempotency_key_reused, request_in_progress",
        422: "not_shippable: details are the per-line decisions",
        429: "rate_limited: more than a fair share of a product's stock (Retry-After)",
        503: "payment_provider_unavailable: nothing was reserved; retry",
    },
)


@app.post(
    "/checkout",
    summary="Reserve stock and open a Stripe Checkout Session for a cart",
    responses=RESPONSES,
)
def create_checkout(
    request: Annotated[CheckoutRequest, Body()],
    products: Annotated[ProductRepository, Depends(product_repository)],
    orders: Annotated[OrderRepository, Depends(order_repository)],
    gateway: Annotated[PaymentGateway, Depends(payment_gateway)],
) -> Response[str]:
    key = app.current_event.headers.get("Idempotency-Key")  # case-insensitive

    def create(**_: Any) -> dict[str, Any]:
        return _create(request, products, orders, gateway)

    body = create() if key is None else _once_per_key(key, request, create)
    return Response(status_code=201, content_type="application/json", body=json.dumps(body))


def _once_per_key(
    key: str, request: CheckoutRequest, create: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """A client's retry with the same Idempotency-Key gets the first answer, not a new order."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 printable characters.", code="invalid_idempotency_key"
        )
    once, config = idempotent(
        create,
        data_keyword_argument="attempt",
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        expires_after_seconds=CHECKOUT_IDEMPOTENCY_SECONDS,
    )
    if app.lambda_context is not None:
        config.register_lambda_context(app.lambda_context)
    try:
        return once(attempt={"key": key, "request": request.model_dump(mode="json")})
    except IdempotencyValidationError:
        raise Conflict(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress; retry shortly.",
            code="request_in_progress",
        ) from None


def _create(
    request: CheckoutRequest,
    products: ProductRepository,
    orders: OrderRepository,
    gateway: PaymentGateway,
) -> dict[str, Any]:
    from bonestore.domain.rules import default_engine

    settings = get_settings()
    destination = destination_of(request.destination) if request.destination else None
    catalog = load_products(products, [item.sku for item in request.items])
    order_id = new_order_id()
    plan = plan_checkout(
        request,
        catalog,
        engine=default_engine(),
        order_id=order_id,
        now=datetime.now(UTC),
        expiry_minutes=settings.checkout_expiry_minutes,
        destination=destination,
    )
    orders.create_with_reservation(plan.order)
    logger.append_keys(order_id=order_id)
    try:
        session = gateway.create_checkout_session(
            plan.session_params, idempotency_key=f"checkout-{order_id}"
        )
    except Exception as exc:
        _release(orders, plan.order, exc)
        raise
    try:
        orders.update_fields(
            order_id,
            {
                "stripe_session_id": session.get("id"),
                "checkout_url": session.get("url"),
                "shipping_rate_ids": shipping_rate_ids(session, plan.decision),
            },
            expected_status="pending_payment",
            event=timeline_event("stripe_session_created", {"session_id": session.get("id")}),
        )
    except Exception:
        # The session exists and the order holds the stock; the webhook finds the order
        # by metadata.order_id, and the sweeper releases it if nobody pays.
        logger.exception("could not record the Stripe session on the order")
    logger.info(
        "checkout created",
        extra={
            "email": mask_email(request.email),
            "destination": mask_destination(plan.order.get("destination")),
            "lines": len(plan.order["items"]),
            "ruleset_version": plan.order["ruleset_version"],
        },
    )
    return created_body(plan, session)


def _release(orders: OrderRepository, order: dict[str, Any], exc: Exception) -> None:
    """Stripe failed: release the stock and mark the order failed, before answering."""
    code = exc.code if isinstance(exc, BonestoreError) else type(exc).__name__
    stored = {**order, "stock_state": "reserved" if order.get("stock_lines") else "none"}
    try:
        orders.transition(
            order["order_id"],
            "payment_failed",
            event=timeline_event("stripe_session_failed", {"error": code}),
            fields={"failure": code},
            current=stored,
        )
    except Exception:
        logger.exception("could not release a failed checkout; the sweeper will")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
