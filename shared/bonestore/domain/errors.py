"""One error hierarchy for the whole service.

Every failure a client can cause is a :class:`BonestoreError` with a stable
snake_case ``code`` and an HTTP status; :mod:`bonestore.api.lite_http` turns it into the
contract's body ``{"error": {"code", "message", "details"?}}``.
"""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    """The contract's error body; the one place it is shaped (functions, lite router, local gateway)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


class BonestoreError(Exception):
    status = 500
    code = "internal_error"
    # Seconds a client should wait before retrying (sent as Retry-After); None: no header.
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class InvalidInput(BonestoreError):
    """The request is malformed or names something impossible (400)."""

    status = 400
    code = "invalid_request"


class InvalidJson(InvalidInput):
    """The body is not valid UTF-8, not JSON, nested too deep, or not a JSON object (400)."""

    code = "invalid_json"


class PayloadTooLarge(BonestoreError):
    """The body is over the size limit (413; ``bonestore.api.json_body``)."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(BonestoreError):
    """The body is not sent as JSON (415; ``bonestore.api.json_body``)."""

    status = 415
    code = "unsupported_media_type"


class NotFound(BonestoreError):
    status = 404
    code = "not_found"


class Unauthorized(BonestoreError):
    status = 401
    code = "unauthorized"


class Forbidden(BonestoreError):
    status = 403
    code = "forbidden"


class Conflict(BonestoreError):
    status = 409
    code = "conflict"


class Unprocessable(BonestoreError):
    """Well-formed, but the business says no (e.g. ``not_shippable``)."""

    status = 422
    code = "unprocessable"


class UpstreamUnavailable(BonestoreError):
    """A dependency (Stripe, DynamoDB) failed; the client may retry."""

    status = 503
    code = "upstream_unavailable"


class IdempotencyKeyReused(Conflict):
    """A request repeated an idempotency key with a different payload."""

    code = "idempotency_key_reused"


class RequestInProgress(Conflict):
    """A request with the same idempotency key has not finished yet."""

    code = "request_in_progress"
