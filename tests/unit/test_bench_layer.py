"""`make bench` measures a cold start on the sys.path a deployed function has: the layer
(bonestore with its compiled ruleset, shared/requirements.txt's distributions) and the
runtime's boto3, nothing of the development environment."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bonestore_infra import bench

pytestmark = pytest.mark.unit

PROBE = """
import importlib.util, json, sys
names = sys.argv[1:]
print(json.dumps({name: importlib.util.find_spec(name) is not None for name in names}))
"""


def test_children_see_the_layer_and_the_runtime_only(tmp_path: Path) -> None:
    path = bench.deployed_layer(tmp_path)
    shipped = ["bonestore", "stripe", "pydantic", "yaml", "pycountry", "boto3"]
    # In the venv (dev tools and their dependencies), never in the layer: stripe imports
    # aiohttp at import time when it can, which a deployed function never pays; and
    # requests, which the layer leaves out as shared/Makefile does (requirements.txt).
    development = ["aiohttp", "requests", "moto", "pytest", "rich", "bonestore_infra"]
    assert all(importlib.util.find_spec(name) for name in development)  # here, they are
    done = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, *shipped, *development],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found == {**dict.fromkeys(shipped, True), **dict.fromkeys(development, False)}
    layer = Path(path.split(os.pathsep)[0])
    assert (layer / "bonestore" / "data" / "ruleset.compiled.pickle").is_file()
    assert (layer / "bonestore" / "data" / "iso3166.pickle").is_file()


def test_make_bench_check_runs_every_bench_with_its_own_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make bench ARGS=--check` once stopped at the checkout bench, which parsed the
    command's own argv and refused ``--check`` (exit 2, no load table)."""
    from bonestore_infra import bench_checkout, bench_load, bench_rules

    calls: dict[str, list[str] | None] = {}
    monkeypatch.setattr(bench, "cold_start", lambda runs, functions: [])
    monkeypatch.setattr(sys, "argv", ["bench", "--check"])
    for name, module in (
        ("rules", bench_rules),
        ("checkout", bench_checkout),
        ("load", bench_load),
    ):
        monkeypatch.setattr(
            module, "main", lambda argv=None, name=name: calls.setdefault(name, argv) and 0
        )
    assert bench.main(["--check"]) == 0
    assert calls == {"rules": [], "checkout": [], "load": []}
