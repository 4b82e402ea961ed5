"""What each function's handler does for on-call, once per invocation: the log keys of
the request (``bonestore.log_context``) fresh at its start, the business metrics
flushed at its end, and the failures counted from the answer itself (every 4xx/5xx,
validation and body checks included, which no use case sees)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bonestore import log_context
from bonestore.api.deps import business_metrics

Handler = TypeVar("Handler", bound=Callable[..., Any])


def observed(logger: Any) -> Callable[[Handler], Handler]:
    """Decorate a ``lambda_handler`` (inside Powertools' ``inject_lambda_context``, or
    around a lean router's ``handle``, which puts the filter on the root handlers itself):
    ``logger``'s handlers write the request's bound keys (the order id) on every line,
    none left from the previous request; what the invocation counted is flushed when it
    ends, however it ends (nothing counted publishes nothing and never raises)."""
    handlers: list[logging.Handler] = list(getattr(logger, "handlers", []))
    log_context.install(handlers)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            log_context.reset()
            try:
                return handler(*args, **kwargs)
            finally:
                business_metrics().flush()
                log_context.reset()

        return wrapped  # type: ignore[return-value]

    return decorate


def error_code_of(response: dict[str, Any]) -> str | None:
    """The contract error body's code, if the answer has one."""
    try:
        body = json.loads(response.get("body") or "")
    except (TypeError, ValueError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def count_failed_answer(
    response: dict[str, Any],
    *,
    total: str,
    by_code: str,
    except_codes: frozenset[str] = frozenset(),
) -> None:
    """A 4xx/5xx answer counts once in ``total`` and once under its error code."""
    status = response.get("statusCode")
    if not isinstance(status, int) or status < 400:
        return
    code = error_code_of(response) or f"http_{status}"
    if code in except_codes:
        return
    metrics = business_metrics()
    metrics.count(total)
    metrics.count(by_code, by=code)
