"""Shared fixtures: one local stack per test process, and a tiny JSON HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import Http


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The whole local service (moto, Stripe emulator, API from template.yaml, the
    fulfilment queue's poller) on free ports. Its functions decide with a copy of the
    packaged ruleset, which a test may edit as ops change rules; a failed fulfilment
    message is received again after 2 s (the template's 120 s)."""
    from bonestore.domain.rules.loader import read_ruleset_text
    from bonestore_infra.bench_checkout import OPEN_LIMITS
    from bonestore_infra.local_stack import LocalStack, StackConfig

    ruleset = tmp_path_factory.mktemp("rules") / "ruleset.yaml"
    ruleset.write_text(read_ruleset_text()[0], "utf-8")
    stack = LocalStack(
        StackConfig(
            api_port=0,
            stripe_port=0,
            dynamodb_port=0,
            webhook_retry_delays=(0.2, 0.5),
            # The suite is one client (127.0.0.1) and a few emails opening hundreds of
            # checkouts a minute: the customer limits would stop it. The tests of the
            # limits set their own (tests/integration/test_checkout_limits.py).
            parameters=OPEN_LIMITS,
            ruleset_path=ruleset,
            queue_visibility_timeout=2,
        )
    ).start()
    from tests import staff_tokens

    staff_tokens.use_pool(stack.user_pool)
    yield stack
    staff_tokens.use_pool(None)
    stack.stop()


@pytest.fixture(scope="session")
def api(local_stack: Any) -> Http:
    return Http(local_stack.api_url)


# Schemathesis' count of cases (tests/integration/test_fuzz_schemathesis.py), printed once
# at the end of the run; the cache carries it from an xdist worker to the controller.
SCHEMATHESIS_CACHE_KEY = "bonestore/schemathesis-cases"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput") and getattr(session.config, "cache", None):
        session.config.cache.set(SCHEMATHESIS_CACHE_KEY, None)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    summary = cache.get(SCHEMATHESIS_CACHE_KEY, None) if cache else None
    if summary:
        terminalreporter.write_line(f"schemathesis: {summary}")
