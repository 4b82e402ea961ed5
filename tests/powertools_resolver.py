"""Powertools' resolver, answering in the contract's error body: the reference the lean
router (``bonestore.api.lite_http``, which every API function runs on) is held to by
the parity tests (``test_lite_http``): the same model validated, the same answer.

Domain errors, Powertools' validation errors, unknown routes and unexpected
exceptions all leave as the contract's body
``{"error": {"code", "message", "details"?}}``; Powertools' own 422 shape never does.
It ran the webhook until that moved to the lean router too (issue #14: ~45 ms of its
cold start). Powertools keeps the request on its router class, shared by every
resolver of a process: fine for tests that call one at a time, which is why no function
runs on it (the local gateway's threads once read each other's body through it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from bonestore.api.json_body import MAX_BODY_BYTES, MAX_JSON_DEPTH, event_body, header
from bonestore.api.validation import invalid_request
from bonestore.domain.errors import BonestoreError, error_body

logger = logging.getLogger("tests.powertools_resolver")


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    *,
    retry_after: int | None = None,
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(error_body(code, message, details)),
        headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
    )


def validation_error_response(errors: list[dict[str, Any]]) -> Response[str]:
    """Powertools' validation errors as the contract's field-specific 400."""
    error = invalid_request(errors)
    return error_response(error.status, error.code, error.message, error.details)


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver that first holds the body to contract v2's rules.

    The check runs before routing and validation, so neither Powertools nor a route
    ever decodes a body that is not JSON, not UTF-8, too large or too deep (those were
    500s: ``UnicodeDecodeError``, ``RecursionError``).
    """

    def __init__(self, *, max_body_bytes: int, max_json_depth: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            event_body(event, max_bytes=self.max_body_bytes, max_depth=self.max_json_depth)
        except BonestoreError as exc:
            return self.reject(exc, event)
        result: dict[str, Any] = super().resolve(_plain_json_content_type(event), context)
        return result

    def reject(self, exc: BonestoreError, event: Any = None) -> dict[str, Any]:
        """The proxy response for a request refused before routing (bad body, no group),
        with the CORS headers Powertools would add, so a browser can read the error."""
        headers = {"Content-Type": "application/json"}
        if self._cors is not None and isinstance(event, dict):
            headers.update(self._cors.to_dict(header(event.get("headers"), "Origin")))
        return {
            "statusCode": exc.status,
            "headers": headers,
            "body": json.dumps(exc.body()),
            "isBase64Encoded": False,
        }


def _plain_json_content_type(event: Any) -> Any:
    """The event with its (already accepted) JSON media type spelled ``application/json``:
    Powertools' validation only reads bodies whose Content-Type starts with exactly that,
    and raised (a 500) for ``APPLICATION/JSON`` or ``application/vnd.api+json``."""
    if not isinstance(event, dict) or not event.get("body"):
        return event
    content_type = header(event.get("headers"), "Content-Type")
    if content_type is None or content_type.startswith("application/json"):
        return event
    fixed = dict(event)
    for field in ("headers", "multiValueHeaders"):
        values = event.get(field)
        if isinstance(values, dict):
            kept = {k: v for k, v in values.items() if k.lower() != "content-type"}
            kept["Content-Type"] = (
                ["application/json"] if field == "multiValueHeaders" else "application/json"
            )
            fixed[field] = kept
    return fixed


def create_app(
    *,
    enable_validation: bool = False,
    cors_origin: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_json_depth: int = MAX_JSON_DEPTH,
) -> Resolver:
    cors = CORSConfig(allow_origin=cors_origin, max_age=300) if cors_origin else None
    app = Resolver(
        max_body_bytes=max_body_bytes,
        max_json_depth=max_json_depth,
        enable_validation=enable_validation,
        cors=cors,
        response_validation_error_http_code=500 if enable_validation else None,
    )

    @app.exception_handler(BonestoreError)
    def _domain_error(exc: BonestoreError) -> Response[str]:
        return error_response(
            exc.status, exc.code, exc.message, exc.details, retry_after=exc.retry_after
        )

    @app.not_found
    def _no_route(exc: NotFoundError) -> Response[str]:
        event = app.current_event
        return error_response(404, "not_found", f"No route for {event.http_method} {event.path}.")

    @app.exception_handler(json.JSONDecodeError)
    def _bad_json(exc: json.JSONDecodeError) -> Response[str]:
        return error_response(
            400, "invalid_json", f"The request body is not valid JSON: {exc.msg}."
        )

    if enable_validation:
        from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

        @app.exception_handler(RequestValidationError)
        def _invalid(exc: RequestValidationError) -> Response[str]:
            return validation_error_response(list(exc.errors()))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")

    return app
