"""Every error code an answer can carry is in docs/api.md's "Error codes" table, and the
table names no code nothing answers. The codes are read from the source (a ``code=``
argument, a ``code =`` class attribute, the field codes of ``bonestore.api.validation``, a
literal given to ``error_response``/``error_body`` or paired with a status) and from
template.yaml's own error bodies (API Gateway's gateway responses, the web ACLs')."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

import pytest

from bonestore_infra.template import REPO_ROOT

pytestmark = pytest.mark.unit

TABLE_ROW = re.compile(r"^\| `([a-z_]+)` \| \d{3}", re.MULTILINE)
TEMPLATE_CODE = re.compile(r'"code":\s*"([a-z_]+)"')


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def answered_codes(sources: Iterable[str], template_text: str) -> set[str]:
    codes: set[str] = set(TEMPLATE_CODE.findall(template_text))
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                codes |= {c for k in node.keywords if k.arg == "code" and (c := _literal(k.value))}
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                position = {"error_response": 1, "error_body": 0}.get(str(name))
                if position is not None and len(node.args) > position:
                    codes |= {c for c in [_literal(node.args[position])] if c}
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
                    if any(getattr(t, "id", None) == "code" for t in targets):
                        codes |= {c for c in [_literal(stmt.value)] if c}  # type: ignore[attr-defined]
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                if any(getattr(t, "id", None) == "FIELD_ERROR_CODES" for t in node.targets):
                    codes |= {c for v in node.value.values if (c := _literal(v))}
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
                status, code = node.elts
                is_status = isinstance(status, ast.Constant) and isinstance(status.value, int)
                if is_status and 400 <= status.value < 600 and (c := _literal(code)):  # type: ignore[attr-defined]
                    codes.add(c)
    return codes


def _repository_sources() -> list[str]:
    roots = (REPO_ROOT / "shared" / "bonestore", REPO_ROOT / "functions")
    return [path.read_text("utf-8") for root in roots for path in sorted(root.rglob("*.py"))]


def documented_codes(api_md: str) -> set[str]:
    return set(TABLE_ROW.findall(api_md.split("### Error codes", 1)[1].split("\n## ", 1)[0]))


def test_every_code_answered_is_documented_and_every_documented_one_answered() -> None:
    answered = answered_codes(
        _repository_sources(), (REPO_ROOT / "template.yaml").read_text("utf-8")
    )
    documented = documented_codes((REPO_ROOT / "docs" / "api.md").read_text("utf-8"))
    assert {"checkout_unavailable", "not_shippable", "method_not_allowed"} <= answered
    assert sorted(answered - documented) == [], "answered but not in docs/api.md"
    assert sorted(documented - answered) == [], "in docs/api.md but nothing answers it"


def test_the_check_finds_a_code_the_table_lacks() -> None:
    source = (
        "class Gone(BonestoreError):\n    code = 'order_gone'\n"
        "def f():\n    raise InvalidInput('x', code='bad_thing')\n"
        "def g():\n    return error_response(418, 'teapot', 'short and stout')\n"
        "ROUTE = (405, 'wrong_verb')\n"
    )
    template = """Content: '{"error": {"code": "edge_said_no", "message": "no"}}'"""
    documented = documented_codes((REPO_ROOT / "docs" / "api.md").read_text("utf-8"))
    assert answered_codes([source], template) - documented == {
        "order_gone", "bad_thing", "teapot", "wrong_verb", "edge_said_no"
    }  # fmt: skip
