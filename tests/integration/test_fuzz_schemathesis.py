"""Schemathesis (4.x) over docs/openapi.json against the local stack: zero failures.

Every check (server errors, status codes, content types, headers and bodies against
the schemas, negative data rejected, positive data accepted, methods not served,
auth that is not ignored), public and staff routes (an ops token from the code path of
`bonestore dev-token`). Bounded so it fits CI: 10 examples per operation and phase,
fixed seed. The exceptions to "a schema-valid request is accepted", each a 400 that
depends on stored data or a secret, are in tests/schemathesis.toml with the reason.
The number of cases it ran is printed at the end of the pytest run.

The stack is the test process's shared one, and Schemathesis replaces and deletes
products with an ops token (the documented example SKUs included): the catalog is put
back exactly as it was afterwards, so the tests that run next in this process see it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bonestore_infra.local_stack import LocalStack
from bonestore_infra.template import REPO_ROOT
from tests.conftest import SCHEMATHESIS_CACHE_KEY
from tests.integration.test_support_api import staff_token

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 10
SEED = 1


@pytest.fixture(autouse=True)
def catalog_put_back(local_stack: LocalStack) -> Iterator[None]:
    from bonestore.adapters.dynamo import dynamodb_client

    client = dynamodb_client()
    table = local_stack.resolver.ref("ProductsTable")

    def items() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = client.scan(**kwargs)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    before = items()
    yield
    for item in items():
        client.delete_item(TableName=table, Key={"sku": item["sku"]})
    for item in before:
        client.put_item(TableName=table, Item=item)


def run_schemathesis(
    stack: LocalStack, document: Path, report_dir: Path, *options: str
) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(REPO_ROOT / "tests" / "schemathesis.toml"),
        "run",
        str(document),
        "--url",
        stack.api_url,
        "--header",
        f"Authorization: Bearer {staff_token('ops')}",
        "--checks",
        "all",
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
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, done.stdout + done.stderr


def test_schemathesis_finds_nothing(
    local_stack: LocalStack, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    document = REPO_ROOT / "docs" / "openapi.json"
    code, output = run_schemathesis(
        local_stack, document, tmp_path, "--max-examples", str(MAX_EXAMPLES)
    )
    counted = re.search(r"(\d+) generated, (.*)", output)
    summary = f"{counted.group(1)} cases ({counted.group(2).strip()})" if counted else "no count"
    request.config.cache.set(SCHEMATHESIS_CACHE_KEY, summary)
    assert code == 0, output[-20_000:]
    assert counted and int(counted.group(1)) >= 11 * MAX_EXAMPLES, output[-2000:]


def test_schemathesis_fails_when_the_document_lies(local_stack: LocalStack, tmp_path: Path) -> None:
    document = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text("utf-8"))
    document["components"]["schemas"]["ProductList"]["properties"]["items"] = {
        "type": "array",
        "items": {"type": "integer"},
    }
    lying = tmp_path / "openapi.json"
    lying.write_text(json.dumps(document), "utf-8")
    code, output = run_schemathesis(
        local_stack,
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
