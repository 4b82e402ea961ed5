"""The local stand-in for Lambda's runtime: module names and per-thread Lambda variables."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from bonestore_infra.lambda_runtime import import_handler_module, lambda_environment

pytestmark = pytest.mark.unit


def test_instances_are_named_like_lambda_and_do_not_clobber_sys_modules(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text(
        "import sys\nSEEN_AS = sys.modules[__name__]\ndef handler():\n    return __name__\n"
    )
    before = sys.modules.get("app")
    first = import_handler_module("app", source)
    second = import_handler_module("app", source)
    assert first is not second
    assert first.__name__ == second.__name__ == "app"
    assert first.handler.__module__ == "app"  # what Powertools Idempotency keys on
    assert first.SEEN_AS is first and second.SEEN_AS is second  # imported as itself
    assert sys.modules.get("app") is before


def test_lambda_variables_are_per_thread() -> None:
    seen: dict[str, str | None] = {}
    ready = threading.Barrier(2)

    def run(name: str) -> None:
        with lambda_environment({"AWS_LAMBDA_FUNCTION_NAME": name}):
            ready.wait(5)
            seen[name] = os.getenv("AWS_LAMBDA_FUNCTION_NAME")
            ready.wait(5)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("Checkout", "Webhook")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"Checkout": "Checkout", "Webhook": "Webhook"}
    assert os.getenv("AWS_LAMBDA_FUNCTION_NAME") not in {"Checkout", "Webhook"}


def test_writes_still_reach_the_real_environment() -> None:
    with lambda_environment({"BONESTORE_OVERLAY_TEST": "overlay"}):
        assert os.environ["BONESTORE_OVERLAY_TEST"] == "overlay"
        assert "BONESTORE_OVERLAY_TEST" in dict(os.environ)
    assert "BONESTORE_OVERLAY_TEST" not in os.environ
    os.environ["BONESTORE_OVERLAY_TEST_2"] = "x"
    try:
        assert os.getenv("BONESTORE_OVERLAY_TEST_2") == "x"
    finally:
        del os.environ["BONESTORE_OVERLAY_TEST_2"]
