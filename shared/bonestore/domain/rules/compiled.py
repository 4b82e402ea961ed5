"""The ruleset compiled at build time: the validated, indexed engine, loaded in a few ms.

``sam build`` (shared/Makefile) runs ``python -m bonestore.domain.rules.compiled DIR``,
which validates ``data/ruleset.yaml``, builds the :class:`Engine` (index included) and
writes it to ``DIR/data/ruleset.compiled.pickle`` with a stamp: the SHA-256 of the YAML
text it came from, of the code that defines the pickled objects, and the Python and
pydantic versions. A cold start (:func:`load_compiled`) loads it instead of parsing
YAML and validating with pydantic.

The YAML stays the source of truth. When the stamp does not match the YAML and code
shipped beside it (a stale or foreign artifact) or the file cannot be read, the
artifact is ignored and the YAML is loaded as before, with a warning: the decision is
then still the YAML's, only slower, whereas failing closed would refuse every order
for a packaging mistake. An invalid YAML still fails loudly, as before.

The pickle is read only from the package's own directory (the same trust as its
code), never from input.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bonestore.domain.rules.engine import Engine
from bonestore.domain.rules.packaged import packaged_ruleset_text

if TYPE_CHECKING:
    from bonestore.domain.rules.schema import Ruleset

ARTIFACT = "data/ruleset.compiled.pickle"
FORMAT = 1
# The modules whose classes the pickle holds (or whose code decides what it holds).
_CODE = (
    "domain/catalog.py",
    "domain/geo.py",
    "domain/money.py",
    "domain/rules/conditions.py",
    "domain/rules/decision.py",
    "domain/rules/engine.py",
    "domain/rules/index.py",
    "domain/rules/methods.py",
    "domain/rules/schema.py",
    "domain/rules/compiled.py",
)
_log = logging.getLogger(__name__)


def stamp(yaml_text: str) -> dict[str, Any]:
    """What an artifact must have been built from to be used with this YAML and code."""
    import pydantic

    package = resources.files("bonestore")
    code = hashlib.sha256()
    for name in _CODE:
        code.update(name.encode())
        code.update(package.joinpath(name).read_bytes())
    return {
        "format": FORMAT,
        "yaml_sha256": hashlib.sha256(yaml_text.encode()).hexdigest(),
        "code_sha256": code.hexdigest(),
        "python": list(sys.version_info[:2]),
        "pydantic": pydantic.VERSION,
    }


def ruleset_json(ruleset: Ruleset) -> dict[str, Any]:
    """The ruleset's methods and rules as the admin's report shows them."""
    return {
        "methods": {k: v.model_dump(mode="json") for k, v in ruleset.methods.items()},
        "rules": [
            rule.model_dump(mode="json", by_alias=True, exclude_none=True) for rule in ruleset.rules
        ],
    }


def compile_to(package_dir: str | Path) -> Engine:
    """Validate the packaged YAML, build its engine and write the artifact into
    ``package_dir`` (a ``bonestore`` package directory)."""
    from bonestore.domain.rules.loader import parse_ruleset, read_ruleset_text, rule_lines

    text, name = read_ruleset_text()
    ruleset, node = parse_ruleset(text, name)
    engine = Engine(ruleset)
    engine.rule_lines = {rule_id: found[0] for rule_id, found in rule_lines(node).items()}
    engine.ruleset_json = ruleset_json(ruleset)
    body = {"stamp": stamp(text), "version": engine.version, "engine": engine}
    target = Path(package_dir) / ARTIFACT
    target.write_bytes(pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))
    return engine


def load_compiled() -> Engine | None:
    """The packaged artifact's engine, or None (missing, stale, unreadable: see above)."""
    package = resources.files("bonestore")
    try:
        raw = package.joinpath(ARTIFACT).read_bytes()
    except FileNotFoundError:
        return None
    text = packaged_ruleset_text()  # not through the loader: rules/packaged.py
    try:
        body = pickle.loads(raw)  # noqa: S301 -- our own build artifact, beside our code
        expected = stamp(text)
        if body["stamp"] != expected:
            _log.warning(
                "compiled ruleset is stale (built from other YAML or code): loading the YAML",
                extra={"artifact": body["stamp"], "expected": expected},
            )
            return None
        engine = body["engine"]
        if not isinstance(engine, Engine) or engine.version != body["version"]:
            raise TypeError("not an engine of the recorded version")
    except Exception as exc:  # any unreadable artifact: the YAML decides instead
        _log.warning("compiled ruleset unreadable (%s): loading the YAML", exc)
        return None
    return engine


def main(argv: list[str]) -> int:
    """``python -m bonestore.domain.rules.compiled PACKAGE_DIR [--check]``."""
    if not argv:
        print("usage: python -m bonestore.domain.rules.compiled PACKAGE_DIR", file=sys.stderr)
        return 2
    engine = compile_to(argv[0])
    print(f"compiled ruleset {engine.version} -> {Path(argv[0]) / ARTIFACT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
