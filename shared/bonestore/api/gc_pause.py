"""The garbage collector paused while a Lambda environment starts (issue #14).

A cold start imports boto3, botocore's service models, pydantic and Powertools: about
100,000 objects that live as long as the environment. With the collector on, CPython
runs a full collection each time the long-lived objects grow by a quarter, scanning
all of them again: ~10% of every function's cold start here (README, Benchmarks).
Almost none of it is garbage: a collection after the first invocation finds ~550
unreachable objects among ~110,000.

So in Lambda, importing this module pauses the collector, and the handler decorated
with :func:`resumed_after_first_call` ends the pause when its first invocation is
done, however that ends: it moves what the start-up made into the permanent
generation (``gc.freeze``: later collections never scan it again, which warm
invocations gain too; the few unreachable objects of the start-up stay, once) and
turns the collector back on. Lambda is told by ``AWS_EXECUTION_ENV``, which the managed
runtime sets (``AWS_Lambda_python3.13``; "Defined runtime environment variables",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html). Elsewhere
(tests, ``bonestore serve``: one long process importing many handlers) it does nothing.

Importing it has that one effect, so it is every handler module's first import (ruff's
isort puts it first: ``pyproject.toml``); what is imported before it is collected as
usual.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[[Any, Any], Any])

IN_LAMBDA = os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")
_paused = IN_LAMBDA and gc.isenabled()
if _paused:
    gc.disable()


def resume() -> None:
    """End the start-up's pause (once; a no-op when nothing was paused)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def resumed_after_first_call(handler: Handler) -> Handler:
    """``handler``, resuming the collector after its first invocation (in Lambda)."""
    if not _paused:
        return handler

    @wraps(handler)
    def call(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            resume()

    return call  # type: ignore[return-value]
