"""`bench --only instructions`: the total callgrind prints is read, and never guessed."""

from __future__ import annotations

import shutil

import pytest

from bonestore_infra import bench

pytestmark = pytest.mark.unit

CALLGRIND_TAIL = """==4242== Events    : Ir
==4242== Collected : 1162401234
==4242==
==4242== I   refs:      1,162,401,234
"""


def test_the_total_is_the_collected_count() -> None:
    assert bench.collected_instructions(CALLGRIND_TAIL) == 1_162_401_234


def test_output_without_a_total_is_an_error_not_a_zero() -> None:
    with pytest.raises(RuntimeError, match="no total"):
        bench.collected_instructions("==4242== error: cannot run python\n")


def test_without_valgrind_a_child_is_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert bench._instructions_of({"kind": "fair_baseline"}, {}) is None
