"""Keys every log line of the current request carries: the order id, from the moment
the order exists (checkout: once it is stored with its reservation, so a refused cart
names no order that never was; the webhook: once its event names the order).

The use cases log with stdlib loggers under ``bonestore``; the Powertools Logger of
each function is that logger's handler, and already adds the correlation id (the API
request id). ``bind(order_id=...)`` puts a key in a context variable, and
:class:`ContextKeys`, a filter on the function's log handler, writes it on every
record that passes (the use case's lines, the adapters', the resolver's "unhandled
error"). The function's handler resets it at each invocation (``bonestore.api.observability``'s
``observed``): a warm instance must not carry one order's id into the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_keys: ContextVar[dict[str, str] | None] = ContextVar("bonestore_log_keys", default=None)


def bind(**keys: str) -> None:
    """From now on in this request, every line carries ``keys``."""
    _keys.set({**(_keys.get() or {}), **keys})


@contextmanager
def bound(**keys: str) -> Iterator[None]:
    """Only within the block (one order of a batch: the sweeper, fulfilment)."""
    token = _keys.set({**(_keys.get() or {}), **keys})
    try:
        yield
    finally:
        _keys.reset(token)


def reset() -> None:
    _keys.set(None)


def current() -> dict[str, str]:
    return dict(_keys.get() or {})


class ContextKeys(logging.Filter):
    """Adds the bound keys to each record (a key the line sets itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_keys.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def install(handlers: list[logging.Handler]) -> None:
    """Put the filter on ``handlers`` once (a function's handler module, at import)."""
    for handler in handlers:
        if not any(isinstance(f, ContextKeys) for f in handler.filters):
            handler.addFilter(ContextKeys())
