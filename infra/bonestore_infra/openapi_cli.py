"""`bonestore openapi`: one OpenAPI document for the whole API, generated from the handlers.

Each function is imported from the file template.yaml names (as Lambda and
`bonestore serve` do), asked for its Powertools OpenAPI schema, and the paths and
component schemas are merged. Operations behind the Cognito authorizer in the
template are marked with the bearer security scheme. The output is sorted and
stable so that `--check` (CI) can fail on any drift from the committed file.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from bonestore_infra.template import REPO_ROOT, Template

DEFAULT_OUTPUT = REPO_ROOT / "docs" / "openapi.json"
SECURITY_SCHEME = "cognito"


def project_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def _merge_component(target: dict[str, Any], name: str, schema: Any, origin: str) -> None:
    if name in target and target[name] != schema:
        raise ValueError(
            f"component schema {name!r} from {origin} differs from another function's; "
            "rename one of the models"
        )
    target[name] = schema


COMPONENTS = "#/components/schemas/"
ERROR_REF = COMPONENTS + "ErrorBody"
POWERTOOLS_ONLY = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
# Answered by every route of a kind, whatever the handler: documented here once.
BODY_ERRORS = {
    400: "invalid_json (not UTF-8, not JSON, nested over 32 levels, not an object) or a field-specific code",
    413: "payload_too_large: the body is over 64 KiB",
    415: "unsupported_media_type: the body is not application/json (or application/*+json)",
}
STAFF_ERRORS = {
    401: "unauthorized: no valid bearer token",
    403: "forbidden: the token's groups may not do this",
}
SERVER_ERROR = {500: "internal_error: a bug on our side (never caused by input)"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def _contract_errors(operation: dict[str, Any], *, secured: bool) -> None:
    """Powertools documents its own 422 and 500 validation shapes; bonestore answers with
    the contract's error body (bonestore.api.lite_http), so the document says that instead, and
    adds the statuses every route of its kind answers."""
    responses = operation.setdefault("responses", {})
    extra = dict(SERVER_ERROR)
    for status in ("422", "500"):
        schema = responses.get(status, {}).get("content", {}).get("application/json", {})
        ref = schema.get("schema", {}).get("$ref", "")
        if ref.removeprefix(COMPONENTS) in POWERTOOLS_ONLY:
            del responses[status]
            if status == "422":  # request validation: bonestore answers it as a 400
                extra[400] = "Invalid input: the contract's error body, with a field-specific code"
    if "requestBody" in operation:
        extra.update(BODY_ERRORS)
    if secured:
        extra.update(STAFF_ERRORS)
    for code, description in extra.items():
        responses.setdefault(str(code), _error(description))


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _add_named_models(document: dict[str, Any]) -> None:
    """The schema of every model a route names by reference (bonestore.api.responses),
    then fail on any reference that still points nowhere."""
    from pydantic import BaseModel
    from pydantic.json_schema import models_json_schema

    from bonestore.api import schemas

    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name in POWERTOOLS_ONLY:
        components.pop(name, None)
    wanted = {ref.removeprefix(COMPONENTS) for ref in _refs(document) if ref.startswith(COMPONENTS)}
    models: list[type[BaseModel]] = []
    for name in sorted(wanted - set(components)):
        model = getattr(schemas, name, None)
        if isinstance(model, type) and issubclass(model, BaseModel):
            models.append(model)
    if models:
        _, definitions = models_json_schema(
            [(model, "serialization") for model in models], ref_template=COMPONENTS + "{model}"
        )
        for name, schema in definitions.get("$defs", {}).items():
            components.setdefault(name, schema)
    dangling = sorted(
        ref for ref in _refs(document) if ref.removeprefix(COMPONENTS) not in components
    )
    if dangling:
        raise ValueError(f"the OpenAPI document refers to undefined schemas: {dangling}")


def build_document(template: Template | None = None) -> dict[str, Any]:
    """Each function's Powertools schema, merged with Powertools' OpenAPIMerge."""
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

    from bonestore_infra.template_gates import load_function_module

    template = template or Template()
    secured = {(r.method, r.path) for r in template.routes() if r.authorizer is not None}
    merge = OpenAPIMerge(
        title="bonestore",
        version=project_version(),
        openapi_version="3.1.0",  # what Powertools generates (JSON Schema 2020-12 components)
        description="Generated by `bonestore openapi` from the handlers; do not edit.",
        on_conflict="error",
    )
    components: dict[str, dict[str, Any]] = {}
    for fn in sorted(template.functions().values(), key=lambda f: f.logical_id):
        if not fn.module_path.is_file():
            continue  # not written yet: contributes no paths
        app = getattr(load_function_module(fn), "app", None)
        if app is None or not hasattr(app, "get_openapi_json_schema"):
            continue  # not an API function (the sweeper)
        schema = json.loads(app.get_openapi_json_schema(title="bonestore"))
        for path, item in schema.get("paths", {}).items():
            item.pop("options", None)  # CORS preflight: API Gateway answers it
            for method, operation in item.items():
                is_secured = (method.upper(), path) in secured
                if is_secured:
                    operation["security"] = [{SECURITY_SCHEME: []}]
                operation.setdefault("tags", [fn.logical_id.removesuffix("Function")])
                _contract_errors(operation, secured=is_secured)
        for kind, entries in schema.get("components", {}).items():
            for name, value in entries.items():
                _merge_component(components.setdefault(kind, {}), name, value, fn.logical_id)
        schema.pop("servers", None)
        merge.add_schema(schema)
    document = merge.get_openapi_schema()
    document.pop("servers", None)
    document["components"] = components
    _add_named_models(document)
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Cognito ID token of a staff user (group support or ops).",
    }
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    text = render(build_document())
    if args.check:
        current = output.read_text("utf-8") if output.is_file() else ""
        if current == text:
            print(f"{output}: up to date")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{output} (committed)",
            tofile=f"{output} (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"\n{output} is stale: run `make openapi` and commit it.", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, "utf-8")
    print(f"wrote {output} ({len(text)} bytes)")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "openapi", help="generate (or --check) the OpenAPI document from the handlers"
    )
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="default: docs/openapi.json")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff if the file is not up to date"
    )
    parser.set_defaults(handler=run)
