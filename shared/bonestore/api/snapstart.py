"""Lambda SnapStart runtime hooks: what a function does before its snapshot is taken
and what it must redo in every environment restored from it.

Before the snapshot (at publish time, once per version): the heavy imports, the
ruleset, the pydantic models and botocore's service models, so a restored
environment starts with them in memory. After each restore: everything that must be
unique or fresh per environment is made again: the random generator is re-seeded
(``random``'s state is in the snapshot; ``uuid4``/``secrets`` read ``os.urandom`` and
need nothing), and the AWS clients (their connections and credentials), the Stripe
client and the cached Stripe secret are dropped so the first request builds them anew.

``snapshot_restore_py`` exists only in Lambda's Python runtime: without it (local
runs, tests) :func:`register` registers nothing and says so.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# The hooks this process registered (name -> callables), for tests and the template gate.
REGISTERED: dict[str, list[Callable[[], None]]] = {"before_snapshot": [], "after_restore": []}


def refresh_after_restore() -> None:
    """Forget what must not be shared between environments restored from one snapshot."""
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.adapters.secrets import secrets_provider
    from bonestore.api import deps

    random.seed()  # from os.urandom: each restored environment its own sequence
    dynamodb_client.cache_clear()  # a client holds pooled connections and credentials
    secrets_provider.cache_clear()  # its client, and Powertools' 5-minute secret cache
    deps.reset()  # the Stripe client and the Stripe keys read through the provider


def register(*warm: Callable[[], object]) -> bool:
    """Register ``warm`` (run before the snapshot) and :func:`refresh_after_restore`.

    Returns True when running under Lambda's runtime with SnapStart hooks available."""

    def before_snapshot() -> None:
        for step in warm:
            step()

    REGISTERED["before_snapshot"].append(before_snapshot)
    REGISTERED["after_restore"].append(refresh_after_restore)
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(refresh_after_restore)
    return True


def warm_rules() -> None:
    """The ruleset parsed, validated and indexed (the engine caches it per process)."""
    from bonestore.api.deps import rules_engine

    rules_engine()


def warm_dynamodb() -> None:
    """botocore's DynamoDB model and endpoint rules loaded (the client itself is made
    again after restore; its loader's caches stay)."""
    from bonestore.adapters.dynamo import dynamodb_client

    dynamodb_client()


def warm_stripe() -> None:
    """The stripe SDK imported (the client is made on the first request after restore)."""
    from bonestore.adapters.stripe_gateway import load_sdk

    load_sdk()
