"""The admin's report on the active ruleset: what it says, and what lint finds in it
against the live catalog (or the seed catalog when the table is empty)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bonestore.domain.catalog import Product
    from bonestore.domain.rules import Engine


def ruleset_report(engine: Engine, catalog: Sequence[Product]) -> dict[str, Any]:
    from bonestore.domain.rules.compiled import ruleset_json
    from bonestore.domain.rules.lint import lint_ruleset, lint_text
    from bonestore.domain.rules.loader import read_ruleset_text

    ruleset = engine.ruleset
    text, name = read_ruleset_text()
    if engine.rule_lines is not None:
        # The engine compiled at build time from this very text (its stamp says so) knows
        # its rules' lines: the same findings as lint_text without parsing the YAML again.
        issues = lint_ruleset(ruleset, name, list(catalog) or None, engine.rule_lines)
    else:
        issues = lint_text(text, name, list(catalog) or None)
    # Dumped at build time into the artifact (the same function), else now.
    dumped = engine.ruleset_json or ruleset_json(ruleset)
    errors = sum(1 for issue in issues if issue.severity == "error")
    return {
        "version": engine.version,
        "source": name,
        "schema_version": ruleset.schema_version,
        "groups": ruleset.groups,
        "methods": dumped["methods"],
        "ingredients": ruleset.ingredients,
        "rules": dumped["rules"],
        "lint": {
            "ok": errors == 0,
            "errors": errors,
            "warnings": len(issues) - errors,
            "catalog": "live" if catalog else "seed",
            "issues": [
                {
                    "severity": issue.severity,
                    "line": issue.line,
                    "rule_id": issue.rule_id,
                    "message": issue.message,
                }
                for issue in issues
            ],
        },
    }
