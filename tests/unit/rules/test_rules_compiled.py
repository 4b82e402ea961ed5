"""The ruleset compiled at build time (rules/compiled.py): the same engine as the YAML's,
used only when its stamp matches the YAML and code shipped beside it."""

from __future__ import annotations

import pickle
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import bonestore
from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartLine, Engine, load_ruleset
from bonestore.domain.rules import compiled as compiled_module
from bonestore.domain.rules.compiled import ARTIFACT, compile_to, load_compiled
from tests.helpers import run_in_deployed_layer

pytestmark = pytest.mark.unit

AT = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bonestore package that resources.files("bonestore") resolves to."""
    copy = tmp_path / "bonestore"
    shutil.copytree(Path(bonestore.__file__).parent, copy, ignore=shutil.ignore_patterns("*.pyc"))
    real = resources.files

    def files(name: Any) -> Any:
        return copy if name == "bonestore" else real(name)

    monkeypatch.setattr(resources, "files", files)
    return copy


def test_artifact_decides_exactly_as_the_yaml(package: Path) -> None:
    built = compile_to(package)
    loaded = load_compiled()
    assert loaded is not None and loaded is not built
    yaml_engine = Engine(load_ruleset())
    assert loaded.version == yaml_engine.version == built.version
    for product in seed_catalog():
        for country in ("US", "CA", "AU", "JP", "GB", "CU", "RU"):
            lines = [CartLine(product, 3)]
            dest = Destination(country=country)
            assert (
                loaded.decide(lines, dest, AT).to_json()
                == yaml_engine.decide(lines, dest, AT).to_json()
            )


def test_no_artifact_means_the_yaml(package: Path) -> None:
    assert not (package / ARTIFACT).exists()
    assert load_compiled() is None


def test_artifact_from_other_yaml_is_ignored(package: Path) -> None:
    """A stale artifact (the YAML edited after the build) must not decide: the YAML does."""
    compile_to(package)
    ruleset = package / "data" / "ruleset.yaml"
    ruleset.write_text(ruleset.read_text().replace("countries: [MX, IN]", "countries: [MX]"))
    assert load_compiled() is None


def test_artifact_from_other_code_is_ignored(package: Path) -> None:
    compile_to(package)
    engine_py = package / "domain" / "rules" / "engine.py"
    engine_py.write_text(engine_py.read_text() + "\n# changed\n")
    assert load_compiled() is None


def test_corrupt_artifact_is_ignored(package: Path) -> None:
    compile_to(package)
    (package / ARTIFACT).write_bytes(b"not a pickle")
    assert load_compiled() is None


def test_artifact_whose_engine_disagrees_with_its_version_is_ignored(package: Path) -> None:
    compile_to(package)
    body = pickle.loads((package / ARTIFACT).read_bytes())
    body["version"] = "rs-000000000000"
    (package / ARTIFACT).write_bytes(pickle.dumps(body))
    assert load_compiled() is None


def test_build_command_writes_the_artifact(
    package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compiled_module.main([str(package)]) == 0
    assert (package / ARTIFACT).exists()
    assert load_ruleset().version in capsys.readouterr().out
    assert compiled_module.main([]) == 2


def test_admin_report_from_the_artifact_lints_without_the_yaml(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /admin/rules' report: the artifact knows its rules' lines, so it lints the
    ruleset it holds without parsing the YAML, with exactly the YAML lint's findings."""
    from bonestore.domain.rules import lint
    from bonestore.service.rules_report import ruleset_report

    compile_to(package)
    loaded = load_compiled()
    assert loaded is not None and loaded.rule_lines and loaded.ruleset_json
    catalog = seed_catalog()[:1]  # rules naming SKUs and ingredients it lacks: findings
    from_yaml = ruleset_report(Engine(load_ruleset()), catalog)
    assert from_yaml["lint"]["issues"], "the comparison needs findings with lines"

    def no_parse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the artifact's report parsed the YAML")

    monkeypatch.setattr(lint, "lint_text", no_parse)
    assert ruleset_report(loaded, catalog) == from_yaml


def test_artifact_keeps_the_validated_ruleset_until_asked(package: Path) -> None:
    """Deciding never reads the schema's models; support, the admin and a diff still get
    them, equal to the YAML's."""
    compile_to(package)
    loaded = load_compiled()
    assert loaded is not None
    assert loaded.__dict__["_ruleset"] is None  # still pickled
    loaded.decide([CartLine(seed_catalog()[0], 1)], Destination(country="CA"), AT)
    assert loaded.__dict__["_ruleset"] is None
    assert loaded.ruleset == load_ruleset()
    assert loaded.ruleset is loaded.ruleset  # unpickled once


def test_the_deployed_layer_decides_without_the_schema_or_yaml(tmp_path: Path) -> None:
    """The cold start of every deciding function (issue #14): the artifact's engine decides
    and answers without importing the ruleset's schema (~30 ms to define its models) or
    the YAML parser; asking for the ruleset imports them."""
    script = """
import sys
from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartLine, default_engine
engine = default_engine()
product = Product.model_validate({  # the seed catalog is YAML
    "sku": "TRUEOSTEO-120", "name": "TrueOsteo", "kind": "physical", "category": "supplement",
    "price": {"amount": 3999, "currency": "USD"}, "stock": 5, "attributes": {"supply_days": 60}})
decision = engine.decide([CartLine(product, 2)], Destination(country="CA")).to_json()
assert decision["items"][0]["reasons"][0]["rule_id"] == "ca-no-supplements-npn", decision
loaded = lambda: sorted({"bonestore.domain.rules.schema", "yaml"} & set(sys.modules))
print(loaded(), len(engine.ruleset.rules) > 0, loaded())
"""
    stdout = run_in_deployed_layer(script, tmp_path)
    assert stdout.strip() == "[] True ['bonestore.domain.rules.schema']"
