"""`make mutation`'s own rules: the gate fails below a target's score, and the checked-in
equivalents list stays explained and tied to real targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutation.run import (
    ROOT,
    Outcome,
    Target,
    changed_lines,
    load_equivalents,
    load_targets,
    report,
)

pytestmark = pytest.mark.unit


def outcome(killed: int, survived: int, min_score: float) -> Outcome:
    target = Target(name="t", module="m.py", tests=[], min_score=min_score)
    lost = [{"line": "1", "operator": "op", "original": "a", "mutant": "b"}] * survived
    return Outcome(target, killed=killed, survived=lost)


def test_a_target_below_its_minimum_score_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert report([outcome(9, 1, 90)], [], full=False)
    assert not report([outcome(9, 1, 100)], [], full=False)
    printed = capsys.readouterr().out
    assert "SURVIVED m.py:1 op" in printed and "< 100%" in printed


def test_no_mutant_run_scores_as_nothing_survived() -> None:
    assert outcome(0, 0, 100).score == 100.0
    assert outcome(3, 1, 0).score == 75.0


def test_a_mutation_is_named_by_the_lines_it_changes() -> None:
    before = "a = 1\nif a == 1:\n    pass\n"
    after = "a = 1\nif a != 1:\n    pass\n"
    assert changed_lines(before, after) == ("if a == 1:", "if a != 1:")


def test_every_equivalent_is_explained_and_names_a_target_module() -> None:
    targets, _ = load_targets()
    modules = {t.module for t in targets}
    for entry in load_equivalents():
        assert entry.module in modules, entry
        assert (ROOT / entry.module).is_file(), entry
        assert len(entry.why) > 20 and entry.why != "...", entry
        assert entry.original != entry.mutant, entry


def test_every_target_has_tests_that_exist() -> None:
    targets, _ = load_targets()
    for target in targets:
        assert (ROOT / target.module).is_file(), target
        for test in target.tests:  # a file, or one test of it (path::name)
            path, _, name = test.partition("::")
            assert Path(ROOT / path).is_file(), (target.name, test)
            assert not name or f"def {name}(" in (ROOT / path).read_text("utf-8"), test
        assert 0 < target.min_score <= 100
