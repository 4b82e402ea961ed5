"""Lambda SnapStart runtime hooks: what a function does before its snapshot is taken
and what it must redo in every environment restored from it.

Before the snapshot (at publish time, once per version): the heavy imports, the
ruleset, the pydantic models and botocore's service models, so a restored
environment starts with them in memory. After each restore: everything that must be
unique or fresh per environment is made again: the random generator is re-seeded
(``random``'s state is in the snapshot; ``uuid4``/``secrets`` read ``os.urandom`` and
need nothing), and the AWS clients (their connections and credentials) and the Stripe
client are dropped so the first request builds them anew; a function that reads the
Stripe secret also drops its cache (``after_restore=``), so a rotation is seen.

``snapshot_restore_py`` exists only in Lambda's Python runtime: without it (local
runs, tests) :func:`register` registers nothing and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# Imported under another name: the IAM gate (bonestore_infra.template_gates) follows
# called names, and a bare ``seed`` is also ProductRepository.seed's (a PutItem).
from random import seed as reseed_random

# The hooks this process registered (name -> callables), for tests and the template gate.
REGISTERED: dict[str, list[Callable[[], None]]] = {"before_snapshot": [], "after_restore": []}


def refresh_after_restore() -> None:
    """Forget what no two environments restored from one snapshot may share."""
    from bonestore.adapters.aws import renew_session
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.api import deps

    reseed_random()  # from os.urandom: each restored environment its own sequence
    renew_session()  # the session caches the credentials every client it makes uses
    dynamodb_client.cache_clear()  # a client holds pooled connections and credentials
    deps.reset()  # what the providers built: the Stripe client, the Stripe keys' reader


def register(
    *warm: Callable[[], object], after_restore: Iterable[Callable[[], object]] = ()
) -> bool:
    """Register ``warm`` to run before the snapshot, and :func:`refresh_after_restore`
    plus the function's own ``after_restore`` steps after each restore.

    Returns True when running under Lambda's runtime with SnapStart hooks available."""
    extra = tuple(after_restore)

    def before_snapshot() -> None:
        for step in warm:
            step()

    def after_restore_hook() -> None:
        refresh_after_restore()
        for step in extra:
            step()

    REGISTERED["before_snapshot"].append(before_snapshot)
    REGISTERED["after_restore"].append(after_restore_hook)
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore_hook)
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
