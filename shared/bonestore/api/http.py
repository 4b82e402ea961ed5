"""The one place HTTP errors are shaped: every function builds its resolver here.

Domain errors, Powertools' validation errors, unknown routes and unexpected
exceptions all leave as the contract's body
``{"error": {"code", "message", "details"?}}``; Powertools' own 422 shape never
does. Validation (pydantic) is opt-in so GET-only functions keep a cheap cold start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from bonestore.domain.errors import BonestoreError

logger = logging.getLogger("bonestore.api.http")

# The contract's field-specific codes, found by the innermost field a validation error names.
FIELD_ERROR_CODES = {
    "country": "invalid_country",
    "subdivision": "invalid_subdivision",
    "postal_code": "invalid_postal_code",
    "quantity": "invalid_quantity",
    "sku": "invalid_sku",
    "items": "invalid_items",
    "email": "invalid_email",
    "at": "invalid_time",
    "success_url": "invalid_url",
    "cancel_url": "invalid_url",
    "destination": "invalid_destination",
    "price": "invalid_price",
    "stock": "invalid_stock",
}


def error_response(
    status: int, code: str, message: str, details: list[Any] | None = None
) -> Response[str]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"error": error}),
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_error_response(errors: list[dict[str, Any]]) -> Response[str]:
    """Turn pydantic/Powertools validation errors into one field-specific 4xx."""
    code = "invalid_request"
    details = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return error_response(400, "invalid_json", "The request body is not valid JSON.")
        loc = tuple(error.get("loc", ()))
        field = _field_path(loc)
        details.append({"field": field or "body", "message": error.get("msg", "invalid value")})
        if code == "invalid_request":
            for part in reversed(loc):
                if isinstance(part, str) and part in FIELD_ERROR_CODES:
                    code = FIELD_ERROR_CODES[part]
                    break
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    message = (
        f"{first['field']}: {first['message']}" if first["field"] != "body" else first["message"]
    )
    if (
        errors
        and errors[0].get("type") == "missing"
        and tuple(errors[0].get("loc", ())) == ("body",)
    ):
        message = "A JSON request body is required."
    return error_response(400, code, message, details)


def create_app(
    *, enable_validation: bool = False, cors_origin: str | None = None
) -> APIGatewayRestResolver:
    cors = CORSConfig(allow_origin=cors_origin, max_age=300) if cors_origin else None
    app = APIGatewayRestResolver(
        enable_validation=enable_validation,
        cors=cors,
        response_validation_error_http_code=500 if enable_validation else None,
    )

    @app.exception_handler(BonestoreError)
    def _domain_error(exc: BonestoreError) -> Response[str]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

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
