"""The layering holds, and orders are read through the typed model only.

``make lint`` runs ``lint-imports`` with the contract in pyproject.toml; here it is
shown to fail once on a copy of the package where a domain module imports an adapter.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = """
[tool.importlinter]
root_package = "bonestore"

[[tool.importlinter.contracts]]
name = "layers"
type = "layers"
containers = ["bonestore"]
layers = ["api", "service | adapters", "domain"]
"""


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO / "shared" / "bonestore",
        tmp_path / "bonestore",
        ignore=shutil.ignore_patterns("__pycache__", "data"),
    )
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    return tmp_path / "bonestore"


def test_the_repository_keeps_its_import_contract() -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("domain/money.py", "from bonestore.adapters.orders import OrderRepository"),
        ("service/support.py", "from bonestore.adapters import dynamo"),
        ("adapters/events.py", "from bonestore.service import payments"),
    ],
)
def test_the_contract_fails_when_a_layer_imports_upwards(
    tmp_path: Path, module: str, bad_import: str
) -> None:
    package = _package_copy(tmp_path)
    assert _lint_imports(tmp_path).returncode == 0  # the copy itself is clean
    target = package / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout


# -- orders are typed outside the repository -----------------------------------------

# The only module that may read a stored order's keys: the repository's translation.
STORED_ORDER_READERS = {"shared/bonestore/adapters/orders.py"}
ORDER_KEYS = {"status", "order_id", "items", "destination", "amount_total", "stock_lines"}


def _order_key_access(tree: ast.AST) -> list[tuple[int, str]]:
    """``<name containing 'order'>.get("status")`` or ``...["status"]`` for order keys."""
    found = []
    for node in ast.walk(tree):
        target: ast.AST | None = None
        key: object = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            target, key = node.func.value, node.args[0].value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            target, key = node.value, node.slice.value
        if target is None or key not in ORDER_KEYS:
            continue
        name = ast.unparse(target)
        if "order" in name.lower():
            found.append((node.lineno, f"{name}[{key!r}]"))
    return found


def _shipped_modules() -> list[Path]:
    return sorted(
        [*(REPO / "shared" / "bonestore").rglob("*.py"), *(REPO / "functions").rglob("*.py")]
    )


def test_no_untyped_order_access_outside_the_repository() -> None:
    offences = []
    for path in _shipped_modules():
        relative = path.relative_to(REPO).as_posix()
        if relative in STORED_ORDER_READERS:
            continue
        for line, access in _order_key_access(ast.parse(path.read_text())):
            offences.append(f"{relative}:{line}: {access}")
    assert offences == []


def test_the_order_access_check_finds_dict_reads() -> None:
    bad = ast.parse(
        'def f(order, orders):\n    return order.get("status"), orders[0]["order_id"]\n'
    )
    assert [access for _, access in _order_key_access(bad)] == [
        "order['status']",
        "orders[0]['order_id']",
    ]
    typed = ast.parse("def f(order):\n    return order.status, session.get('status')\n")
    assert _order_key_access(typed) == []
