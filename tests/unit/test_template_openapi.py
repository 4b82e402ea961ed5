"""docs/openapi.json is generated from the handlers, committed, and agrees with docs/api.md.

docs/api.md is the repository's own statement of the HTTP contract: a table of every
route, each marked built or planned. The business's contract (``../shared``) is not
needed: when it is present, one more test checks that docs/api.md keeps in step with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bonestore_infra import openapi_cli
from bonestore_infra.template import REPO_ROOT, Template

pytestmark = pytest.mark.unit

API_DOC = REPO_ROOT / "docs" / "api.md"
BUSINESS_CONTRACT = REPO_ROOT.parent / "shared" / "api-contract.md"
COMMITTED = REPO_ROOT / "docs" / "openapi.json"
ROUTE_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)` \|[^|]*\| (built|planned)\b")


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


def route_table(text: str) -> dict[tuple[str, str], str]:
    """docs/api.md's route table: (method, path) -> "built" | "planned"."""
    table: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        match = ROUTE_ROW.match(line)
        if match:
            method, path, status = match.groups()
            assert (method, path) not in table, f"{method} {path} listed twice"
            table[(method, path)] = status
    return table


def test_route_table_parser_reads_built_and_planned() -> None:
    text = (
        "| `GET /products` | anyone | built |\n"
        "| `POST /a/{b}/c` | ops | planned (v2) |\n"
        "| `GET /x` | prose, not a row\n"
    )
    assert route_table(text) == {("GET", "/products"): "built", ("POST", "/a/{b}/c"): "planned"}


def test_document_agrees_with_docs_api_md(generated: str) -> None:
    table = route_table(API_DOC.read_text("utf-8"))
    assert len(table) >= 10
    built = {route for route, status in table.items() if status == "built"}
    paths = json.loads(generated)["paths"]
    documented = {(m.upper(), p) for p, item in paths.items() for m in item}
    assert built - documented == set(), "docs/api.md calls these built; the API lacks them"
    assert documented - built == set(), "served, but not marked built in docs/api.md"


def test_docs_api_md_names_every_route_of_the_business_contract() -> None:
    """docs/api.md is kept in step with the business's contract, where a checkout has it."""
    if not BUSINESS_CONTRACT.is_file():
        pytest.skip(f"{BUSINESS_CONTRACT} is not here (not needed to build or test)")
    required = contract_routes(BUSINESS_CONTRACT.read_text("utf-8"))
    assert len(required) >= 10
    listed = set(route_table(API_DOC.read_text("utf-8")))
    assert required - listed == set(), "routes of the business contract missing from docs/api.md"


def test_an_openapi_validator_passes_the_document(generated: str) -> None:
    from openapi_spec_validator import validate

    validate(json.loads(generated))


def test_the_validator_fails_a_broken_document(generated: str) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    broken = json.loads(generated)
    broken["paths"]["/checkout"]["post"]["responses"] = {"201": {"content": {}}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_no_reference_points_nowhere(generated: str) -> None:
    document = json.loads(generated)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', generated))
    assert refs and refs <= set(document["components"]["schemas"])
    assert not {"ValidationError", "HTTPValidationError", "ResponseValidationError"} & set(
        document["components"]["schemas"]
    )


def test_a_dangling_reference_fails_the_build() -> None:
    document = {"paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nothing"}}}}}}}}}  # fmt: skip
    with pytest.raises(ValueError, match="Nothing"):
        openapi_cli._add_named_models(document)


def test_every_success_has_a_real_schema(generated: str) -> None:
    for path, item in json.loads(generated)["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    schema = response["content"]["application/json"]["schema"]
                    assert "$ref" in schema, (method, path, status, schema)


def test_every_route_lists_the_statuses_it_answers(generated: str) -> None:
    paths = json.loads(generated)["paths"]
    for route in Template().routes():
        operation = paths[route.path][route.method.lower()]
        statuses = set(operation["responses"])
        if route.authorizer is not None:
            assert {"401", "403"} <= statuses, route
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses, route
        for status, response in operation["responses"].items():
            if status[0] in "45":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorBody", (route, status)
    assert {"404"} <= set(paths["/support/orders/{order_id}"]["get"]["responses"])
    assert {"400", "409", "413", "415"} <= set(paths["/webhooks/stripe"]["post"]["responses"])
    assert {"201", "409", "422", "429"} <= set(paths["/checkout"]["post"]["responses"])
