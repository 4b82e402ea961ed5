"""Stripe webhook function: POST /webhooks/stripe.

Verifies ``Stripe-Signature`` on the raw body (API Gateway may hand it over
base64-encoded), then applies each handled event once: Powertools Idempotency keyed on
the event id, persisted in IDEMPOTENCY_TABLE. An event that fails is not recorded as
done, so Stripe's retry runs it again; the order state machine makes a second run of
a finished event harmless anyway. ``stripe`` is imported only to refund.

Answers: 200 once handled (duplicates and ignored types included), 400
``invalid_signature`` / ``invalid_json``, 409 while the same event is in flight
(Stripe retries), 503 when a dependency failed (Stripe retries).

Its cold start is held to 1.5x the fair floor (issue #14): like every API function it
runs on the lean router of ``bonestore.api.lite_http`` with stdlib logging, not
Powertools' resolver and Logger (~45 ms CPU of its cold start here). The body is held
to the contract's rules (a JSON object, at most 256 KiB) before its signature is checked.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from collections.abc import Callable
from typing import Any

from bonestore import log_context
from bonestore.adapters.idempotency import idempotent
from bonestore.adapters.webhook_signature import verify
from bonestore.api import deps
from bonestore.api.json_body import MAX_WEBHOOK_BODY_BYTES
from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.api.observability import count_failed_answer, observed
from bonestore.api.responses import documented
from bonestore.domain.errors import Conflict, InvalidInput
from bonestore.domain.payment import HANDLED_EVENTS
from bonestore.service import metrics

logger = logging.getLogger("bonestore.webhook")
logger.setLevel(logging.INFO)
app = LiteRouter()
# Stripe retries for up to three days: remember processed events a little longer.
IDEMPOTENCY_SECONDS = 4 * 24 * 3600
# Not a failure: the same event is being handled; Stripe's retry finds it done.
NOT_FAILURES = frozenset({"event_in_progress"})


def apply_event(event: dict[str, Any]) -> dict[str, Any]:
    """One verified event, translated and applied (the idempotent unit of work)."""
    from bonestore.adapters.stripe_translation import parse_event

    parsed = parse_event(event)
    if parsed is None:  # a handled type whose object is unreadable
        return {"received": True, "event_id": event.get("id"), "type": event.get("type"),
                "action": "ignored_type"}  # fmt: skip
    return deps.payment_service().apply(parsed)


_processor: tuple[Callable[..., dict[str, Any]], Any] | None = None


def processor() -> tuple[Callable[..., dict[str, Any]], Any]:
    """``apply_event`` made idempotent on the event id, and its config (built once)."""
    global _processor
    if _processor is None:
        _processor = idempotent(
            apply_event,
            data_keyword_argument="event",
            event_key_jmespath="id",
            expires_after_seconds=IDEMPOTENCY_SECONDS,
        )
    return _processor


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
    raw_body=True,
    # Stripe's events are larger than a client's request; the depth rule is the same.
    max_body_bytes=MAX_WEBHOOK_BODY_BYTES,
)
def stripe_webhook(request: LiteRequest) -> dict[str, Any]:
    verify(request.raw_body, request.header("Stripe-Signature"), list(deps.webhook_secrets()))
    event = request.body  # the JSON object the signature covers (parsed before it is checked)
    if event is None:
        raise InvalidInput("The body is not a JSON Stripe event.", code="invalid_json")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        logger.warning("signed body without an event id or type: ignored")
        return {"received": True, "action": "ignored_not_an_event"}
    log_context.bind(stripe_event_id=event_id, stripe_event_type=event_type)
    if event_type not in HANDLED_EVENTS:
        logger.info("stripe event type not handled: ignored")
        return {"received": True, "event_id": event_id, "type": event_type, "action": "ignored"}
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    process, config = processor()
    if request.lambda_context is not None:
        config.register_lambda_context(request.lambda_context)
    try:
        outcome = process(event=dict(event))
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "This event is being processed; retry later.", code="event_in_progress"
        ) from None
    logger.info("stripe event handled", extra={"outcome": outcome})
    return outcome


@resumed_after_first_call
@observed(logger)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = app.handle(event, context, logger)
    count_failed_answer(
        response,
        total=metrics.WEBHOOK_FAILURES,
        by_code=metrics.WEBHOOK_FAILURES_BY_CODE,
        except_codes=NOT_FAILURES,
    )
    return response
