"""``bonestore catalog load FILE`` against the local server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from bonestore_infra.cli import main
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration


def new_sku() -> str:
    return f"CLI-{uuid.uuid4().hex[:10].upper()}"


def book(sku: str, stock: int = 5) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": "A bone-health book",
        "kind": "physical",
        "category": "book",
        "price": {"amount": 1999, "currency": "USD"},
        "stock": stock,
    }


@pytest.fixture
def load(local_stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("BONESTORE_API_URL", local_stack.api_url)
    monkeypatch.setenv("BONESTORE_TOKEN", staff_token("ops"))

    def run(path: Path, *argv: str) -> tuple[int, str, str]:
        code = main(["catalog", "load", str(path), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(tmp_path: Path, products: list[Any], *, as_json: bool = False) -> Path:
    import yaml

    path = tmp_path / ("catalog.json" if as_json else "catalog.yaml")
    text = json.dumps({"products": products}) if as_json else yaml.safe_dump({"products": products})
    path.write_text(text, "utf-8")
    return path


def test_creates_then_replaces_and_the_api_has_them(load: Any, api: Any, tmp_path: Path) -> None:
    first, second = new_sku(), new_sku()
    path = write(tmp_path, [book(first), book(second)], as_json=True)
    code, out, err = load(path)
    assert code == 0, err
    assert f"created   {first}" in out and f"created   {second}" in out
    assert "2 created, 0 replaced, 0 refused, 0 invalid" in out
    code, out, _ = load(write(tmp_path, [{**book(first), "name": "Second edition"}]))
    assert code == 0 and f"replaced  {first}" in out
    assert api.request("GET", f"/products/{first}").json()["name"] == "Second edition"


def test_the_seed_catalog_file_loads_as_is(load: Any) -> None:
    seed = Path(__file__).parents[2] / "shared" / "bonestore" / "data" / "catalog.yaml"
    code, out, err = load(seed, "--dry-run")
    assert code == 0, err
    assert "TRUEOSTEO-120" in out and "nothing sent" in out


def test_an_invalid_product_stops_everything_unless_continue(
    load: Any, api: Any, tmp_path: Path
) -> None:
    good, bad = new_sku(), new_sku()
    digital_with_stock = {**book(bad), "kind": "digital"}
    path = write(tmp_path, [book(good), digital_with_stock, {**book(good), "price": 5}])
    code, out, err = load(path)
    assert code == 1 and out == ""
    assert f"invalid product 2 ({bad}): product: Value error, a digital product has no stock" in err
    assert f"invalid product 3 ({good}): price: " in err
    assert "2 invalid product(s): nothing sent" in err
    assert api.request("GET", f"/products/{good}").status == 404

    code, out, err = load(path, "--continue")
    assert code == 1
    assert f"created   {good}" in out and bad not in out
    assert "1 created, 0 replaced, 0 refused, 2 invalid" in out
    assert api.request("GET", f"/products/{good}").status == 200


def test_dry_run_sends_nothing(load: Any, api: Any, tmp_path: Path) -> None:
    sku = new_sku()
    code, out, _ = load(write(tmp_path, [book(sku)]), "--dry-run")
    assert code == 0 and f"valid     {sku}" in out
    assert api.request("GET", f"/products/{sku}").status == 404


def test_a_refusal_prints_the_api_error_code(load: Any, tmp_path: Path) -> None:
    """Valid here, refused by the API: an ingredient the ruleset cannot judge."""
    sku = new_sku()
    supplement = {
        **book(sku),
        "category": "supplement",
        "attributes": {"supply_days": 30, "ingredients": {"unobtainium": {}}},
    }
    code, out, _ = load(write(tmp_path, [supplement, book(new_sku())]))
    assert code == 1
    assert f"refused   {sku}: 422 unknown_ingredient: " in out
    assert "1 created, 0 replaced, 1 refused, 0 invalid" in out


def test_support_staff_may_not_load(
    load: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BONESTORE_TOKEN", staff_token("support"))
    code, out, _ = load(write(tmp_path, [book(new_sku()), book(new_sku())]))
    assert code == 1
    assert "403" in out and "needs the ops group" in out
    assert out.count("refused   ") == 1  # stops at the first refusal of the sign-in
    assert "stopped: 1 product(s) not sent" in out


def test_signs_in_with_username_and_password(
    load: Any, local_stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BONESTORE_TOKEN")
    ops = next(u for u in local_stack.staff_users if u.username == "ops")
    sku = new_sku()
    code, out, err = load(
        write(tmp_path, [book(sku)]), "--username", "ops", f"--password={ops.password}"
    )
    assert code == 0, err
    assert f"created   {sku}" in out


def test_unreadable_files_exit_2(load: Any, tmp_path: Path) -> None:
    code, _, err = load(tmp_path / "missing.yaml")
    assert code == 2 and "cannot read" in err
    path = tmp_path / "bad.yaml"
    path.write_text("products: [unclosed", "utf-8")
    code, _, err = load(path)
    assert code == 2 and "is not YAML or JSON" in err
    path.write_text("items: []", "utf-8")
    code, _, err = load(path)
    assert code == 2 and "has no `products` list" in err
