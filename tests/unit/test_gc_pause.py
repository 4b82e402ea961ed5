"""The garbage collector paused for a Lambda start-up (bonestore.api.gc_pause): off from
the handler module's first import to the end of its first invocation, in Lambda only;
and every handler module is wired that way."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted((REPO / "functions").glob("*/app.py"))

# A handler module as the functions write it, then the runtime's calls.
PROBE = """
import gc, json
from bonestore.api.gc_pause import resumed_after_first_call
seen = {"after_import": gc.isenabled()}

@resumed_after_first_call
def lambda_handler(event, context):
    seen.setdefault("during_calls", []).append(gc.isenabled())
    if event == "fail":
        raise RuntimeError("the first invocation failed")
    return event

try:
    lambda_handler("fail" if FIRST_FAILS else "ok", None)
except RuntimeError:
    seen["first_raised"] = True
seen["after_first"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count()
lambda_handler("ok", None)
seen["after_second"] = gc.isenabled()
print(json.dumps(seen))
"""


def probe(execution_env: str | None, first_fails: bool = False) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_EXECUTION_ENV"}
    if execution_env is not None:
        env["AWS_EXECUTION_ENV"] = execution_env
    code = f"FIRST_FAILS = {first_fails}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("first_fails", [False, True])
def test_in_lambda_the_collector_is_off_until_the_first_invocation_ends(first_fails: bool) -> None:
    seen = probe("AWS_Lambda_python3.13", first_fails)
    assert seen["after_import"] is False
    assert seen["during_calls"] == [False, True]
    assert seen.get("first_raised", False) is first_fails
    assert seen["after_first"] is True and seen["after_second"] is True
    # What the start-up made is in the permanent generation: never scanned again.
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 1000


@pytest.mark.parametrize("execution_env", [None, "", "AWS_ECS_FARGATE"])
def test_outside_lambda_nothing_is_paused_or_frozen(execution_env: str | None) -> None:
    seen = probe(execution_env)
    assert seen["after_import"] is True
    assert seen["during_calls"] == [True, True]
    assert seen["frozen"] == 0


@pytest.mark.parametrize("module", FUNCTIONS, ids=lambda p: p.parent.name)
def test_every_handler_pauses_first_and_resumes_after_its_first_call(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    first = [n for n in imports if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    assert isinstance(first[0], ast.ImportFrom) and first[0].module == "bonestore.api.gc_pause"
    (handler,) = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler"
    ]
    outermost = handler.decorator_list[0]
    assert isinstance(outermost, ast.Name) and outermost.id == "resumed_after_first_call"
