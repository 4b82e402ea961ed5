"""The committed JSON Schema of ruleset.yaml is the one the models generate, and it
accepts the default ruleset and refuses what the models refuse (for editors)."""

from __future__ import annotations

import json
from datetime import date, datetime
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from bonestore.domain.rules.schema import ruleset_json_schema, ruleset_json_schema_text

pytestmark = pytest.mark.unit

DATA = resources.files("bonestore").joinpath("data")


def _as_editor_sees(value: Any) -> Any:
    """YAML timestamps as the strings an editor's validator sees."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _as_editor_sees(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_editor_sees(v) for v in value]
    return value


def default_ruleset_document() -> dict[str, Any]:
    return _as_editor_sees(yaml.safe_load(DATA.joinpath("ruleset.yaml").read_text("utf-8")))  # type: ignore[no-any-return]


def test_committed_schema_is_the_generated_one() -> None:
    committed = DATA.joinpath("ruleset.schema.json").read_text("utf-8")
    assert committed == ruleset_json_schema_text(), "run `bonestore rules schema`"


def test_ruleset_yaml_names_its_schema_for_editors() -> None:
    first = DATA.joinpath("ruleset.yaml").read_text("utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./ruleset.schema.json"


def test_default_ruleset_is_valid_against_the_schema() -> None:
    jsonschema.Draft202012Validator(ruleset_json_schema()).validate(default_ruleset_document())


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"effect": "permit", "max_quantity": 3}, "a permit takes no effect parameters"),
        ({"effect": "teleport"}, "unknown effect"),
        ({"id": "Bad Id"}, "ids are kebab-case"),
        ({"effective_from": "next tuesday"}, "not a date"),
    ],
)
def test_schema_refuses_what_the_models_refuse(change: dict[str, Any], why: str) -> None:
    document = default_ruleset_document()
    document["rules"][0] = {**document["rules"][0], **change}
    validator = jsonschema.Draft202012Validator(
        ruleset_json_schema(), format_checker=jsonschema.FormatChecker()
    )
    assert list(validator.iter_errors(document)), why


def test_schema_drift_check_fails_when_the_file_is_stale(tmp_path: Any, monkeypatch: Any) -> None:
    """`bonestore rules schema --check` (run by make test) fails on a stale file."""
    import argparse

    import bonestore
    from bonestore_infra import rules_cli

    (tmp_path / "data").mkdir()
    stale = json.loads(ruleset_json_schema_text())
    stale["title"] = "old"
    (tmp_path / "data" / "ruleset.schema.json").write_text(json.dumps(stale))
    monkeypatch.setattr(bonestore, "__file__", str(tmp_path / "__init__.py"))
    assert rules_cli.schema_command(argparse.Namespace(check=True)) == 1
    assert rules_cli.schema_command(argparse.Namespace(check=False)) == 0
    assert rules_cli.schema_command(argparse.Namespace(check=True)) == 0
