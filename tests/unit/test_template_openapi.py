"""docs/openapi.json is generated from the handlers, committed, and agrees with the contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bonestore_infra import openapi_cli
from bonestore_infra.template import REPO_ROOT, Template

pytestmark = pytest.mark.unit

CONTRACT = REPO_ROOT.parent / "shared" / "api-contract.md"
COMMITTED = REPO_ROOT / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def generated() -> str:
    return openapi_cli.render(openapi_cli.build_document())


def contract_routes(text: str) -> set[tuple[str, str]]:
    """Every `METHOD /path` the contract names (query strings and [optional] parts dropped)."""
    found = re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s\[?]*)", text)
    return {(method, path) for method, path in found}


def test_committed_document_is_up_to_date(generated: str) -> None:
    assert COMMITTED.is_file(), "docs/openapi.json is missing: run `make openapi`"
    assert COMMITTED.read_text("utf-8") == generated, (
        "docs/openapi.json drifted from the handlers: run `make openapi` and commit it"
    )


def test_check_mode_fails_on_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", "utf-8")
    parser = __import__("argparse").ArgumentParser()
    openapi_cli.register(parser.add_subparsers())
    args = parser.parse_args(["openapi", "--check", "--output", str(stale)])
    assert args.handler(args) == 1
    assert "+++" in capsys.readouterr().out


def test_document_covers_every_template_route(generated: str) -> None:
    paths = json.loads(generated)["paths"]
    documented = {(m.upper(), p) for p, item in paths.items() for m in item}
    assert documented == {(r.method, r.path) for r in Template().routes()}


def test_staff_operations_declare_bearer_security(generated: str) -> None:
    paths = json.loads(generated)["paths"]
    for route in Template().routes():
        operation = paths[route.path][route.method.lower()]
        assert ("security" in operation) == (route.authorizer is not None), route


def test_contract_parser_reads_the_surface() -> None:
    text = "`GET /products[?country=CC]` and `GET /support/orders?email=...` `PUT /a/{b}` (x)"
    assert contract_routes(text) == {
        ("GET", "/products"),
        ("GET", "/support/orders"),
        ("PUT", "/a/{b}"),
    }


def test_document_agrees_with_the_contract(generated: str) -> None:
    if not CONTRACT.is_file():
        pytest.skip(f"{CONTRACT} is not here")
    required = contract_routes(CONTRACT.read_text("utf-8"))
    assert len(required) >= 10
    paths = json.loads(generated)["paths"]
    documented = {(m.upper(), p) for p, item in paths.items() for m in item}
    assert required - documented == set(), "the contract's routes missing from the API"
