"""Real ID tokens from the local stack's Cognito pool, for tests (signed in as the console does).

The session's stack registers its pool here (tests/conftest.py); a token is cached per
user for the test run, well inside its one-hour life.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_pool: Any = None
_cache: dict[tuple[str | None, str | None], tuple[str, float]] = {}
_lock = threading.Lock()
CACHE_SECONDS = 45 * 60


def use_pool(pool: Any) -> None:
    global _pool
    with _lock:
        _pool = pool
        _cache.clear()


def staff_token(
    group: str | None, *, username: str | None = None, expires_in: int | None = None
) -> str:
    """An ID token for ``username`` (default ``dev-<group>``) in ``group``; None: in no group.

    A group the pool lacks is created first, so "a user in a group the API does not
    know" is a real token too.

    ``expires_in`` re-issues it with that lifetime (negative: expired), see
    ``bonestore_infra.dev_auth.with_lifetime``.
    """
    from bonestore_infra.dev_auth import issue_token, with_lifetime
    from bonestore_infra.local_cognito import ensure_group

    if _pool is None:
        raise RuntimeError("no local stack: use the `api` or `local_stack` fixture")
    key = (group, username)
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached[1] < time.monotonic():
            if group is not None:
                ensure_group(_pool, group)
            token = issue_token(_pool, group, username=username)
            cached = _cache[key] = (token, time.monotonic() + CACHE_SECONDS)
    return cached[0] if expires_in is None else with_lifetime(cached[0], expires_in)
