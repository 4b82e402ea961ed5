"""Schemathesis (4.x) over docs/openapi.json against the local stack: zero failures.

Every correctness check (server errors, status codes, content types, headers and bodies against
the schemas, negative data rejected, positive data accepted, methods not served,
auth that is not ignored), public and staff routes (an ops token from the code path of
`bonestore dev-token`). Bounded so it fits CI: 10 examples per operation and phase,
fixed seed. The exceptions to "a schema-valid request is accepted", each a 400 that
depends on stored data or a secret, are in tests/schemathesis.toml with the reason.
The number of cases it ran is printed at the end of the pytest run.

It fuzzes an ops token's routes (it deletes and replaces products), so it runs against
a stack of its own: `bonestore serve` in a subprocess on free ports (port 0), never the
session's shared stack.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bonestore_infra.template import REPO_ROOT
from tests.conftest import SCHEMATHESIS_CACHE_KEY
from tests.integration.test_support_api import staff_token
from tests.processes import ChildProcess

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 10
# Every check Schemathesis has, named one by one: "all" would add max_response_time
# (10 s), a timing assertion, and speed is measured by `make bench`, never by tests (a
# cold checkout on a loaded 2-core machine once took 10.02 s).
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
    "positive_data_acceptance,missing_required_header,unsupported_method,"
    "allow_header_conformance,use_after_free,ensure_resource_availability,ignored_auth,"
    "object_level_authorization"
)
SEED = 1


@pytest.fixture(scope="module")
def own_stack(local_stack: Any) -> Iterator[str]:
    """The API URL of a `bonestore serve` of its own (SIGTERM stops it cleanly; one that
    does not stop is killed, with its children). ``local_stack``: the session's stack
    issues the staff token sent (run alone, or first on an xdist worker, this file had none)."""
    import os

    serve = ChildProcess(
        [
            str(Path(sys.executable).with_name("bonestore")),
            "serve",
            "--port",
            "0",
            "--stripe-port",
            "0",
            "--dynamodb-port",
            "0",
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = serve.wait_for("Press Ctrl-C to stop.", timeout=60)
        found = re.search(r"^\s+API\s+(http://\S+)", banner, re.MULTILINE)
        assert found, banner
        yield found.group(1)
    finally:
        serve.stop(signal.SIGTERM)


def run_schemathesis(
    api_url: str, document: Path, report_dir: Path, *options: str
) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(REPO_ROOT / "tests" / "schemathesis.toml"),
        "run",
        str(document),
        "--url",
        api_url,
        "--header",
        f"Authorization: Bearer {staff_token('ops')}",
        "--checks",
        CHECKS,
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report-dir",
        str(report_dir),
        *options,
    ]
    # cwd: Schemathesis keeps a .schemathesis/ cache where it runs; never in the repository.
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=report_dir
    )
    return done.returncode, done.stdout + done.stderr


def test_schemathesis_finds_nothing(
    own_stack: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    document = REPO_ROOT / "docs" / "openapi.json"
    code, output = run_schemathesis(
        own_stack, document, tmp_path, "--max-examples", str(MAX_EXAMPLES)
    )
    counted = re.search(r"(\d+) generated, (.*)", output)
    summary = f"{counted.group(1)} cases ({counted.group(2).strip()})" if counted else "no count"
    request.config.cache.set(SCHEMATHESIS_CACHE_KEY, summary)
    assert code == 0, output[-20_000:]
    assert counted and int(counted.group(1)) >= 11 * MAX_EXAMPLES, output[-2000:]


def test_schemathesis_fails_when_the_document_lies(own_stack: str, tmp_path: Path) -> None:
    document = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text("utf-8"))
    document["components"]["schemas"]["ProductList"]["properties"]["items"] = {
        "type": "array",
        "items": {"type": "integer"},
    }
    lying = tmp_path / "openapi.json"
    lying.write_text(json.dumps(document), "utf-8")
    code, output = run_schemathesis(
        own_stack,
        lying,
        tmp_path,
        "--include-path",
        "/products",
        "--include-method",
        "GET",
        "--max-examples",
        "1",
        "--phases",
        "examples,fuzzing",
    )
    assert code != 0, output[-2000:]
    assert "Response violates schema" in output, output[-2000:]
