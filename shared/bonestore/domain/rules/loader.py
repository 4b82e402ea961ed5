"""Reading a ruleset file: YAML -> :class:`Ruleset`, with file/line on every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bonestore.domain.errors import BonestoreError
from bonestore.domain.rules.packaged import DEFAULT_RULESET_NAME, packaged_ruleset_text

if TYPE_CHECKING:
    from bonestore.domain.rules.schema import Ruleset


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
        super().__init__("; ".join(str(i) for i in issues[:5]))
        self.issues = issues


def _children(node: Any) -> dict[Any, tuple[int, Any]]:
    """A YAML node's children by key (a mapping) or index (a sequence), each with the
    1-based line it starts on (a mapping's: its key's, where a block value is not)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        return {key.value: (key.start_mark.line + 1, value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return {i: (item.start_mark.line + 1, item) for i, item in enumerate(node.value)}
    return {}


def _locate(root: Any, loc: tuple[int | str, ...]) -> tuple[int, str | None]:
    """(1-based line, rule id) of a pydantic error location in the YAML: the line of the
    deepest node on the path, and the id of the rule the path goes through.

    A part the file does not have is passed over: pydantic names a union's member in the
    path (a rule's effect after its index), and a missing field is the path's last part.
    """
    line, node, rule_id = root.start_mark.line + 1, root, None
    for part in loc:
        found = _children(node).get(part)
        if found is None:
            continue
        line, node = found
        if rule_id is None:  # the first mapping on the path with an id: only rules have one
            rule_id = _id_of(node)
    return line, rule_id


def _id_of(node: Any) -> str | None:
    found = _children(node).get("id")
    value = getattr(found and found[1], "value", None)
    return value if isinstance(value, str) else None


def rule_lines(node: Any) -> dict[str, list[int]]:
    """rule id -> the 1-based lines of its entries (more than one: duplicates), in the YAML
    of a ruleset whose rules have passed the schema (each a mapping with a text id)."""
    lines: dict[str, list[int]] = {}
    for line, item in _children(_children(node)["rules"][1]).values():
        lines.setdefault(_children(item)["id"][1].value, []).append(line)
    return lines


def parse_ruleset(text: str, file: str = "<ruleset>") -> tuple[Ruleset, Any]:
    """Parse and validate; returns the ruleset and the YAML node tree (for positions).

    Raises :class:`RulesetError` with file/line issues.
    """
    import yaml
    from pydantic import ValidationError

    from bonestore.domain.rules.schema import Ruleset

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
    except (ValueError, OverflowError) as exc:  # a date YAML reads but no calendar has
        line, value = _bad_timestamp(node)
        raise RulesetError(
            [Issue("error", file, line, None, f"{value!r} is not a real date or time: {exc}")]
        ) from exc
    if not isinstance(raw, dict):
        raise RulesetError([Issue("error", file, 1, None, "a ruleset is a mapping with `rules:`")])
    try:
        ruleset = Ruleset.model_validate(raw)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line, rule_id = _locate(node, loc)
            path = ".".join(str(p) for p in loc) or "(top)"
            message = err["msg"].removeprefix("Value error, ")
            if isinstance(err.get("input"), bool):
                message += " (YAML reads unquoted NO/YES/ON/OFF as booleans: quote it)"
            named = re.search(r"rule (?:id )?'?([a-z0-9][a-z0-9-]+)", message)
            # An error of the whole ruleset (loc empty: every rule passed the schema) that
            # names a rule points at that rule's last entry (a duplicate id: the second).
            if not loc and named and named.group(1) in (ids := rule_lines(node)):
                rule_id = named.group(1)
                line = ids[rule_id][-1]
            issues.append(Issue("error", file, line, rule_id, f"{path}: {message}"))
        raise RulesetError(issues) from exc
    return ruleset, node


def _bad_timestamp(node: Any) -> tuple[int | None, str]:
    """The line and text of the first timestamp YAML cannot build ("2027-02-30")."""
    import yaml

    constructor = yaml.constructor.SafeConstructor()
    todo = [node]
    while todo:
        current = todo.pop(0)
        if isinstance(current, yaml.MappingNode):
            todo.extend(v for pair in current.value for v in pair)
        elif isinstance(current, yaml.SequenceNode):
            todo.extend(current.value)
        elif current is not None and current.tag == "tag:yaml.org,2002:timestamp":
            try:
                constructor.construct_yaml_timestamp(current)
            except (ValueError, OverflowError):
                return current.start_mark.line + 1, str(current.value)
    return None, "a date"


def read_ruleset_text(path: str | Path | None = None) -> tuple[str, str]:
    """(text, display name) of a ruleset file; None -> the packaged default."""
    if path is None:
        return packaged_ruleset_text(), DEFAULT_RULESET_NAME
    return Path(path).read_text("utf-8"), str(path)


def load_ruleset(path: str | Path | None = None) -> Ruleset:
    """Load and validate a ruleset; None -> the packaged default ``data/ruleset.yaml``."""
    text, name = read_ruleset_text(path)
    return parse_ruleset(text, name)[0]
