"""Reading a ruleset file: YAML -> :class:`Ruleset`, with file/line on every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bonestore.domain.errors import BonestoreError
from bonestore.domain.rules.schema import Ruleset

DEFAULT_RULESET = "data/ruleset.yaml"


@dataclass(frozen=True)
class Issue:
    """One lint finding: ``severity`` is "error" (fails lint) or "warning"."""

    severity: str
    file: str
    line: int | None
    rule_id: str | None
    message: str
    check: str = "L000"  # the lint check's id (docs/rules.md); L000: the schema

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{where}: {self.severity} {self.check}{rule}: {self.message}"


class RulesetError(BonestoreError):
    """A ruleset file that cannot be loaded (bad YAML or schema); ``issues`` say where."""

    code = "invalid_ruleset"

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(str(i) for i in issues[:5]) or "invalid ruleset")
        self.issues = issues


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (nearest known parent)."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            key = "from" if part == "from_" else part
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
        else:
            child = None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def rule_lines(node: Any) -> dict[str, list[int]]:
    """rule id -> the 1-based lines of its entries in the YAML (more than one: duplicates)."""
    import yaml

    lines: dict[str, list[int]] = {}
    rules = next((v for k, v in getattr(node, "value", []) if k.value == "rules"), None)
    for item in getattr(rules, "value", []):
        if not isinstance(item, yaml.MappingNode):  # a scalar or a list: no id to find
            continue
        for k, v in item.value:
            if getattr(k, "value", None) == "id" and isinstance(v.value, str):
                lines.setdefault(v.value, []).append(item.start_mark.line + 1)
    return lines


def parse_ruleset(text: str, file: str = "<ruleset>") -> tuple[Ruleset, Any]:
    """Parse and validate; returns the ruleset and the YAML node tree (for positions).

    Raises :class:`RulesetError` with file/line issues.
    """
    import yaml

    # libyaml's parser (in PyYAML's wheels) is ~8x faster than the pure-Python one, and
    # every function that decides carts parses the ruleset at cold start.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
        raw = yaml.load(text, Loader=loader)  # noqa: S506 -- a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RulesetError([Issue("error", file, line, None, f"YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise RulesetError([Issue("error", file, 1, None, "a ruleset is a mapping with `rules:`")])
    try:
        ruleset = Ruleset.model_validate(raw)
    except ValidationError as exc:
        issues = []
        ids = rule_lines(node)
        for err in exc.errors():
            loc = tuple(err["loc"])
            rule_id = None
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rules = raw.get("rules")
                if (
                    isinstance(rules, list)
                    and loc[1] < len(rules)
                    and isinstance(rules[loc[1]], dict)
                ):
                    rule_id = rules[loc[1]].get("id")
            path = ".".join(str(p) for p in loc) or "(top)"
            message = err["msg"].removeprefix("Value error, ")
            if isinstance(err.get("input"), bool):
                message += " (YAML reads unquoted NO/YES/ON/OFF as booleans: quote it)"
            line = _line_of(node, loc)
            named = re.search(r"rule (?:id )?'?([a-z0-9][a-z0-9-]+)", message)
            if not loc and named and named.group(1) in ids:
                rule_id = named.group(1)
                line = ids[rule_id][-1]
            issues.append(Issue("error", file, line, rule_id, f"{path}: {message}"))
        raise RulesetError(issues) from exc
    return ruleset, node


def read_ruleset_text(path: str | Path | None = None) -> tuple[str, str]:
    """(text, display name) of a ruleset file; None -> the packaged default."""
    if path is None:
        text = resources.files("bonestore").joinpath(DEFAULT_RULESET).read_text("utf-8")
        return text, f"bonestore/{DEFAULT_RULESET}"
    return Path(path).read_text("utf-8"), str(path)


def load_ruleset(path: str | Path | None = None) -> Ruleset:
    """Load and validate a ruleset; None -> the packaged default ``data/ruleset.yaml``."""
    text, name = read_ruleset_text(path)
    return parse_ruleset(text, name)[0]
