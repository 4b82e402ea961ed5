"""Stripe webhook function: POST /webhooks/stripe.

Verifies ``Stripe-Signature`` on the raw body (API Gateway may hand it over
base64-encoded), then applies each handled event once: Powertools Idempotency keyed on
the event id, persisted in IDEMPOTENCY_TABLE. An event that fails is not recorded as
done, so Stripe's retry runs it again; the order state machine makes a second run of
a finished event harmless anyway. ``stripe`` is imported only to refund.

Answers: 200 once handled (duplicates and ignored types included), 400
``invalid_signature`` / ``invalid_json``, 409 while the same event is in flight
(Stripe retries), 503 when a dependency failed (Stripe retries).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.adapters.dynamo import dynamodb_client
from bonestore.adapters.idempotency import idempotent
from bonestore.adapters.orders import OrderRepository
from bonestore.adapters.secrets import StripeSecrets
from bonestore.adapters.webhook_signature import verify
from bonestore.api.http import create_app, documented
from bonestore.api.json_body import MAX_WEBHOOK_BODY_BYTES
from bonestore.config import get_settings
from bonestore.domain.errors import Conflict, InvalidInput
from bonestore.service.payments import HANDLED_EVENTS, PaymentService

logger = Logger()
# Stripe's events are larger than a client's request; the depth rule is the same.
app = create_app(max_body_bytes=MAX_WEBHOOK_BODY_BYTES)
# Stripe retries for up to three days: remember processed events a little longer.
IDEMPOTENCY_SECONDS = 4 * 24 * 3600


class Dependencies:
    """Adapters and the idempotent processor, built on first use; tests replace them."""

    def __init__(self) -> None:
        self.secrets: StripeSecrets | None = None
        self.service: PaymentService | None = None
        self._process: Callable[..., dict[str, Any]] | None = None
        self.idempotency_config: Any = None

    def webhook_secrets(self) -> tuple[str, ...]:
        if self.secrets is None:
            self.secrets = StripeSecrets(get_settings().stripe_secret_name)
        return self.secrets.keys().webhook_secrets

    def payment_service(self) -> PaymentService:
        if self.service is None:
            settings = get_settings()
            self.service = PaymentService(
                OrderRepository(dynamodb_client(), settings.orders_table, settings.products_table),
                engine=_engine,
                publisher=_publisher,
                gateway=_gateway,
                on_ineligible=settings.on_ineligible_payment,
            )
        return self.service

    def processor(self) -> Callable[..., dict[str, Any]]:
        if self._process is None:

            def process(event: dict[str, Any]) -> dict[str, Any]:
                return self.payment_service().handle(event)

            self._process, self.idempotency_config = idempotent(
                process,
                data_keyword_argument="event",
                event_key_jmespath="id",
                expires_after_seconds=IDEMPOTENCY_SECONDS,
            )
        return self._process


deps = Dependencies()


def _engine() -> Any:
    from bonestore.domain.rules import default_engine

    return default_engine()


def _publisher() -> Any:
    from bonestore.adapters.events import EventBridgePublisher, events_client

    return EventBridgePublisher(events_client(), get_settings().event_bus_name)


def _gateway() -> Any:
    from bonestore.adapters.stripe_gateway import StripeGateway

    settings = get_settings()
    secrets = deps.secrets or StripeSecrets(settings.stripe_secret_name)
    return StripeGateway(lambda: secrets.keys().api_key, settings.stripe_api_base)


def raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("The request body is not valid base64.") from None
    return body.encode("utf-8")


@app.post(
    "/webhooks/stripe",
    summary="Stripe events, verified with the Stripe-Signature header",
    responses=documented(
        {200: ("WebhookAck", "Handled (duplicates and ignored types included)")},
        {
            400: "invalid_signature, invalid_json",
            409: "event_in_progress: the same event is being handled (Stripe retries)",
            413: "payload_too_large (over 256 KiB)",
            415: "unsupported_media_type",
            503: "a dependency failed (Stripe retries)",
        },
    ),
)
def stripe_webhook() -> dict[str, Any]:
    payload = raw_body()
    signature = app.current_event.headers.get("Stripe-Signature") or next(
        (v for k, v in app.current_event.headers.items() if k.lower() == "stripe-signature"),
        None,
    )
    verify(payload, signature, list(deps.webhook_secrets()))
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not a JSON Stripe event.", code="invalid_json") from None
    if not isinstance(event, dict):
        raise InvalidInput("The body is not a JSON Stripe event.", code="invalid_json")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        logger.warning("signed body without an event id or type: ignored")
        return {"received": True, "action": "ignored_not_an_event"}
    logger.append_keys(stripe_event_id=event_id, stripe_event_type=event_type)
    if event_type not in HANDLED_EVENTS:
        logger.info("stripe event type not handled: ignored")
        return {"received": True, "event_id": event_id, "type": event_type, "action": "ignored"}
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    process = deps.processor()
    if app.lambda_context is not None and deps.idempotency_config is not None:
        deps.idempotency_config.register_lambda_context(app.lambda_context)
    try:
        outcome = process(event=event)
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "This event is being processed; retry later.", code="event_in_progress"
        ) from None
    logger.info("stripe event handled", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
