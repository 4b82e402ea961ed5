"""Test helpers: a tiny JSON HTTP client, the contract's error-body assertion and a
poll for what the stack does asynchronously."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bonestore_infra import http_json
from bonestore_infra.http_json import HttpResponse

if TYPE_CHECKING:
    from bonestore_infra.local_stack import LocalStack

__all__ = [
    "Http",
    "HttpResponse",
    "assert_error",
    "eventually",
    "ruleset_restored",
    "run_in_deployed_layer",
]

T = TypeVar("T")


class Http:
    """JSON over HTTP (``bonestore_infra.http_json``, stdlib urllib): no client library
    between the test and the wire."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> HttpResponse:
        return http_json.request(
            method, self.base_url + path, body, raw=raw, headers=headers, token=token
        )

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, body, **kwargs)


def assert_error(response: HttpResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error body, with the expected status (and code)."""
    assert response.status == status, (response.status, response.body[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def product_body(
    category: str, cents: int = 1000, *, currency: str = "USD", **fields: Any
) -> dict[str, Any]:
    """A ``PUT /admin/products/{sku}`` body: digital for a program, else physical (give
    ``stock``); any other field as given."""
    return {
        "name": f"Test {category}",
        "description": f"A {category} written by a test.",
        "kind": "digital" if category == "program" else "physical",
        "category": category,
        "price": {"amount": cents, "currency": currency},
        **fields,
    }


def fresh_function_module(name: str, tag: str) -> Any:
    """A new copy of ``functions/<name>/app.py`` (a cold start), imported under its own
    module name, so module-level settings (the environment a test set) are read again."""
    import importlib.util

    from bonestore_infra.template import REPO_ROOT

    spec = importlib.util.spec_from_file_location(
        f"{name}_app_for_{tag}", REPO_ROOT / "functions" / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def ruleset_restored(stack: LocalStack) -> Iterator[Callable[[str], None]]:
    """Yields ``add_rule(yaml)``: ops add a rule to the ruleset file the stack's functions
    decide with (it applies at once); the file is put back after."""
    path = Path(str(stack.config.ruleset_path))
    before = path.read_text("utf-8")

    def add_rule(rule_yaml: str) -> None:
        indented = "".join(f"  {line}\n" for line in rule_yaml.strip("\n").splitlines())
        text = path.read_text("utf-8")
        path.write_text(text.replace("\nrules:\n", "\nrules:\n" + indented, 1), "utf-8")

    try:
        yield add_rule
    finally:
        path.write_text(before, "utf-8")


def eventually(probe: Callable[[], T | bool | None], timeout: float = 30, what: str = "it") -> T:
    """Poll ``probe`` until it returns something other than None or False: for what the
    stack does after the request that caused it has answered (EventBridge, SQS)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


def run_in_deployed_layer(script: str, tmp_path: Path) -> str:
    """``script``'s stdout, run by ``python -S`` on the layer as ``sam build`` makes it
    (``bonestore_infra.bench.deployed_layer``: nothing of the development venv importable),
    as a cold start sees it; fails the test with its stderr if it fails."""
    import subprocess
    import sys

    from bonestore_infra.bench import deployed_layer

    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env={"PYTHONPATH": deployed_layer(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
