"""What the Python Lambda runtime gives a handler, for many warm instances in one process.

In Lambda each instance is its own process: the handler module is imported under
its own name (``app`` for ``Handler: app.lambda_handler``) and the environment holds
``AWS_LAMBDA_FUNCTION_NAME`` and friends. Code keys on both: Powertools Idempotency
stores ``"{AWS_LAMBDA_FUNCTION_NAME}.{fn.__module__}.{fn.__qualname__}#hash"``, so
two instances that disagree on either never see each other's records (issue 11:
10 orders for one Idempotency-Key).

Here every instance of every function shares ``sys.modules`` and ``os.environ``:

- :func:`import_handler_module` imports a fresh module *named* like Lambda's, holding
  a lock and putting ``sys.modules[name]`` back afterwards, so the import sees itself
  under its own name (pydantic and typing resolve annotations through it) and no
  instance clobbers another. The module lives only in the pool that loaded it.
- :func:`lambda_environment` overlays, for the calling thread only, the variables
  Lambda sets for that function: a request served by the checkout function sees
  ``AWS_LAMBDA_FUNCTION_NAME=CheckoutFunction`` while the webhook, on another thread,
  sees its own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

_IMPORT_LOCK = threading.Lock()
_overlay = threading.local()


def import_handler_module(name: str, path: Path) -> ModuleType:
    """A new instance of the module at ``path``, imported as ``name`` (Lambda's name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with _IMPORT_LOCK:
        previous = sys.modules.get(name)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        finally:
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return module


class _ThreadOverlayEnviron(os._Environ[str]):
    """``os.environ`` whose reads see the calling thread's Lambda variables first.

    Shares the real environment's storage, so writes behave exactly as before
    (``putenv`` included); only lookups from a thread inside :func:`lambda_environment`
    differ.
    """

    def _layer(self) -> Mapping[str, str]:
        layer: Mapping[str, str] | None = getattr(_overlay, "env", None)
        return layer or {}

    def __getitem__(self, key: str) -> str:
        layer = self._layer()
        if key in layer:
            return layer[key]
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        return key in self._layer() or super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        layer = self._layer()
        yield from layer
        for key in super().__iter__():
            if key not in layer:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def _install() -> None:
    current: Any = os.environ
    if isinstance(current, _ThreadOverlayEnviron):
        return
    overlay = _ThreadOverlayEnviron(
        current._data,
        current.encodekey,
        current.decodekey,
        current.encodevalue,
        current.decodevalue,
    )
    os.environ = overlay  # noqa: B003 - same storage: nothing is cleared, reads gain the overlay


@contextmanager
def lambda_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Within the block, this thread's ``os.environ`` / ``os.getenv`` also hold ``variables``."""
    _install()
    saved = getattr(_overlay, "env", None)
    _overlay.env = {**(saved or {}), **variables}
    try:
        yield
    finally:
        _overlay.env = saved


def function_variables(
    *, function_name: str, handler: str, memory_size: int, region: str
) -> dict[str, str]:
    """The reserved variables Lambda defines for a function (those code here reads)."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_REGION": region,
        "_HANDLER": handler,
    }
