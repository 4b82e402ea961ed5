"""Stripe-shaped API errors: ``{"error": {"type", "code"?, "message", "param"?}}``."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error the emulator answers with, in Stripe's body shape and status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        return {"error": error}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid_integer(param: str, value: object) -> StripeError:
    return StripeError(
        400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
    )


def invalid_enum(param: str, allowed: list[str] | tuple[str, ...]) -> StripeError:
    return StripeError(400, f"Invalid {param}: must be one of {', '.join(allowed)}", param=param)


def invalid(param: str | None, message: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def not_found(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def api_error(status: int) -> StripeError:
    return StripeError(
        status,
        "An unknown error occurred (injected by the emulator's failure mode).",
        type="api_error",
    )
