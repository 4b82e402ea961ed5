"""`make mutation`: cosmic-ray over the decision core, one module at a time.

    python -m tests.mutation.run                      # every target in targets.toml
    python -m tests.mutation.run money geo            # some targets
    python -m tests.mutation.run --sample 20 --seed 18 money   # a fixed-seed sample

Cosmic-ray makes the mutants (its operators, its work database, its local
executor). This script only chooses what to run and reads the results:

- It mutates a scratch copy of the repository (``.mutation/run-PID/tree``), never the
  worktree, so an interrupted run leaves no mutant behind and other commands
  can go on meanwhile. The copy comes first on ``PYTHONPATH``, ahead of the
  editable install.
- Operators the targets file excludes are not run (see the reason there).
- Mutants listed in ``equivalent.toml`` (module, original line, mutated line,
  and why) are not run and not counted; an entry that no longer matches any
  mutant is reported, so the list cannot rot silently.
- Each target's tests run with ``-x``: the first failing test kills the mutant.

It prints, per target, killed / (killed + survived) after the equivalents, and
every survivor with its diff and a ready-to-paste ``equivalent.toml`` entry.
It exits 1 when a target is below its ``min_score``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = ROOT / ".mutation"
# Per run, so two runs (or a run and a sample) never share a tree or a database.
RUN = WORK / f"run-{os.getpid()}"
TREE = RUN / "tree"
# -x: the first failing test kills the mutant. No xdist or Hypothesis plugin: each costs
# startup on every one of hundreds of runs, and @given works without the plugin.
PYTEST = "python -m pytest -x -q -p no:xdist -p no:hypothesispytest --no-header -o addopts="


@dataclass
class Target:
    name: str
    module: str
    tests: list[str]
    min_score: float
    # Whether `make test`'s sample fails the build below min_score (targets whose
    # mutation work is done); the others are reported only.
    gate: bool = False
    timeout_factor: float = 4.0


@dataclass
class Equivalent:
    module: str
    original: str
    mutant: str
    why: str
    # Which occurrence (1-based, in file order) when the module has the same change more
    # than once; without it an entry must be unambiguous.
    nth: int | None = None
    used: int = 0


@dataclass
class Outcome:
    target: Target
    killed: int = 0
    survived: list[dict[str, Any]] = field(default_factory=list)
    incompetent: int = 0
    equivalent: int = 0
    excluded: int = 0
    not_sampled: int = 0
    seconds: float = 0.0

    @property
    def score(self) -> float:
        ran = self.killed + len(self.survived)
        return 100.0 if ran == 0 else 100.0 * self.killed / ran


def load_targets() -> tuple[list[Target], list[re.Pattern[str]]]:
    data = tomllib.loads((HERE / "targets.toml").read_text(encoding="utf-8"))
    targets = [Target(**t) for t in data["target"]]
    excluded = [re.compile(p) for p in data["exclude_operators"]["patterns"]]
    return targets, excluded


def load_equivalents() -> list[Equivalent]:
    data = tomllib.loads((HERE / "equivalent.toml").read_text(encoding="utf-8"))
    return [Equivalent(**e) for e in data.get("equivalent", [])]


def copy_tree() -> None:
    """The repository's files as they are now (committed or not) in a scratch copy."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        source = ROOT / rel
        if rel.startswith(".mutation/") or not source.is_file():
            continue
        dest = TREE / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


def changed_lines(original: str, mutated: str) -> tuple[str, str]:
    """The original and mutated text of the lines a mutation changed (stripped, joined)."""
    before: list[str] = []
    after: list[str] = []
    for line in difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (before if line.startswith("-") else after).append(line[1:].strip())
    return " / ".join(before), " / ".join(after)


def run_target(
    target: Target,
    excluded: list[re.Pattern[str]],
    equivalents: list[Equivalent],
    sample: int | None,
    seed: int,
    subprocess_runner: bool = False,
    lines: set[int] | None = None,
) -> Outcome:
    from cosmic_ray.commands import execute, init
    from cosmic_ray.config import ConfigDict
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    outcome = Outcome(target)
    module_path = TREE / target.module
    code = module_path.read_text(encoding="utf-8")
    command = f"{PYTEST} {' '.join(target.tests)}"

    started = time.monotonic()
    if subprocess_runner:
        baseline = subprocess.run(command.split(), cwd=TREE, capture_output=True, text=True)
        failed, shown = baseline.returncode != 0, baseline.stdout
    else:  # forked like the mutants, so the timeout below is measured the way they run
        prepare_parent()
        failed, shown = forked_pytest(target.tests, timeout=600.0) != 0, f"run {command}"
    baseline_seconds = time.monotonic() - started
    if failed:
        raise SystemExit(f"{target.name}: the tests fail before any mutation:\n{shown}")

    db_path = RUN / f"{target.name}.sqlite"
    db_path.unlink(missing_ok=True)
    info: dict[str, dict[str, str]] = {}
    with use_db(str(db_path), WorkDB.Mode.create) as db:
        init([module_path], db, {})
        runnable: list[tuple[tuple[int, int], str, int, str]] = []
        changes: dict[str, tuple[str, str]] = {}
        for item in db.work_items:
            mutation = item.mutations[0]
            skip: str | None = None
            if any(p.search(mutation.operator_name) for p in excluded):
                skip = "excluded"
            else:
                operator = get_operator(mutation.operator_name)(**mutation.operator_args)
                mutated = mutate_code(code, operator, mutation.occurrence)
                if mutated is None:
                    skip = "excluded"
                else:
                    before, after = changed_lines(code, mutated)
                    changes[item.job_id] = (before, after)
                    info[item.job_id] = {
                        "operator": mutation.operator_name,
                        "line": str(mutation.start_pos[0]),
                        "original": before,
                        "mutant": after,
                    }
                    key = (tuple(mutation.start_pos), mutation.operator_name, mutation.occurrence)
                    runnable.append((*key, item.job_id))  # type: ignore[arg-type]
            if skip is not None:
                outcome.excluded += 1
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        # File order, so that `nth` and a fixed-seed sample mean the same mutants every run.
        runnable.sort()
        seen: dict[tuple[str, str], int] = {}
        nth_of: dict[str, int] = {}
        for *_, job_id in runnable:
            pair = changes[job_id]
            seen[pair] = seen.get(pair, 0) + 1
            nth_of[job_id] = seen[pair]
        kept = []
        for *_, job_id in runnable:
            before, after = changes[job_id]
            match = None
            for eq in equivalents:
                if (eq.module, eq.original, eq.mutant) != (target.module, before, after):
                    continue
                if eq.nth is None and seen[(before, after)] > 1:
                    print(
                        f"AMBIGUOUS equivalent entry (give nth=1..{seen[(before, after)]}): "
                        f"{eq.module}: {eq.original} -> {eq.mutant}"
                    )
                    continue
                if eq.nth is None or eq.nth == nth_of[job_id]:
                    match = eq
                    break
            if match is None:
                kept.append(job_id)
                info[job_id]["nth"] = str(nth_of[job_id]) if seen[(before, after)] > 1 else ""
            else:
                match.used += 1
                outcome.equivalent += 1
                db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        runnable_ids = kept
        if lines:
            for job_id in [j for j in runnable_ids if int(info[j]["line"]) not in lines]:
                runnable_ids.remove(job_id)
                db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        if sample is not None and sample < len(runnable_ids):
            chosen = set(random.Random(seed).sample(runnable_ids, sample))
            for job_id in runnable_ids:
                if job_id not in chosen:
                    outcome.not_sampled += 1
                    db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        config = ConfigDict(
            {
                "module-path": str(module_path),
                "timeout": max(10.0, baseline_seconds * target.timeout_factor),
                "test-command": command,
                "distributor": {"name": "local"},
            }
        )
        print(
            f"{target.name}: {len(runnable_ids) - outcome.not_sampled} mutants to run "
            f"(baseline {baseline_seconds:.1f}s each at most)",
            flush=True,
        )
        cwd = Path.cwd()
        os.chdir(TREE)
        try:
            if subprocess_runner:
                execute(db, config)
            else:
                execute_forked(db, target.tests, config.timeout)
        finally:
            os.chdir(cwd)
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.test_outcome == TestOutcome.SURVIVED:
                outcome.survived.append(info[item.job_id])
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                outcome.incompetent += 1
            else:
                outcome.killed += 1
    outcome.seconds = time.monotonic() - started
    outcome.survived.sort(key=lambda s: int(s["line"]))
    return outcome


# What every target's tests import: loaded once in the parent, shared by every forked run.
PRELOAD = (
    "pytest",
    "_pytest.python",
    "pydantic",
    "yaml",
    "pycountry",
    "hypothesis",
    "hypothesis.strategies",
    "boto3",
    "botocore.session",
    "stripe",
    "aws_lambda_powertools.event_handler.api_gateway",
)


def prepare_parent() -> None:
    """Import what every target's tests import, once, in the parent every run forks from;
    put the scratch tree first on the path. Never imports ``bonestore``."""
    import importlib

    if str(TREE / "shared") in sys.path:
        return
    for name in PRELOAD:
        importlib.import_module(name)
    import pycountry

    pycountry.countries.get(alpha_2="US")
    pycountry.subdivisions.get(code="US-NY")
    sys.dont_write_bytecode = True
    for entry in reversed([str(TREE / "shared"), str(TREE / "infra"), str(TREE)]):
        sys.path.insert(0, entry)


def forked_pytest(tests: list[str], timeout: float) -> int:
    """pytest on ``tests`` in a forked child of the warm parent: its exit status, or -9
    when it ran out of time (and was killed)."""
    import pytest

    args = PYTEST.split()[3:] + tests
    pid = os.fork()
    if pid == 0:  # the child: run the tests on the (mutated) tree, say how it went
        code = 3
        try:
            os.chdir(TREE)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = int(pytest.main(args))
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(raw)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return -9
        time.sleep(0.01)


def execute_forked(db: Any, tests: list[str], timeout: float) -> None:
    """Cosmic-ray's local executor, with each test run forked from a warm parent.

    ``cosmic-ray exec`` starts a fresh interpreter per mutant; on the shared 2-core
    machine its startup and imports (pytest, pydantic, pycountry) were about three
    quarters of each mutant's time. Here cosmic-ray still applies each mutation to the
    file (``use_mutation``) and records the result in its work database; the tests run
    in a child forked from a parent that has imported the third-party packages but
    never ``bonestore``, so the child imports the mutated module fresh.
    """
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    prepare_parent()
    for item in list(db.pending_work_items):
        mutation = item.mutations[0]
        operator = get_operator(mutation.operator_name)(**mutation.operator_args)
        with use_mutation(mutation.module_path, operator, mutation.occurrence) as (_, mutated):
            if mutated is None:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NO_TEST))
                continue
            status = forked_pytest(tests, timeout)
        # pytest: 0 all passed (survived); 1 failed, 2 interrupted (an import error in the
        # mutant), -9 timed out: killed; 3 internal error, 4 usage, 5 no tests: incompetent.
        if status == 0:
            outcome = TestOutcome.SURVIVED
        elif status in (1, 2, -9):
            outcome = TestOutcome.KILLED
        else:
            outcome = TestOutcome.INCOMPETENT
        db.set_result(
            item.job_id, WorkResult(worker_outcome=WorkerOutcome.NORMAL, test_outcome=outcome)
        )


def report(outcomes: list[Outcome], equivalents: list[Equivalent], full: bool) -> bool:
    ok = True
    print()
    print(f"{'target':<17} {'score':>7} {'killed':>7} {'survived':>9} {'equiv':>6} {'time':>7}")
    for o in outcomes:
        below = o.score < o.target.min_score
        ok = ok and not below
        flag = f"  < {o.target.min_score:g}%" if below else ""
        print(
            f"{o.target.name:<17} {o.score:6.1f}% {o.killed:>7} {len(o.survived):>9} "
            f"{o.equivalent:>6} {o.seconds:6.0f}s{flag}"
        )
    if len(outcomes) > 1:
        killed = sum(o.killed for o in outcomes)
        survived = sum(len(o.survived) for o in outcomes)
        total = killed + survived
        print(
            f"{'all':<17} {100.0 * killed / total if total else 100.0:6.1f}% {killed:>7} "
            f"{survived:>9} {sum(o.equivalent for o in outcomes):>6} "
            f"{sum(o.seconds for o in outcomes):6.0f}s"
        )
    for o in outcomes:
        for s in o.survived:
            print(f"\nSURVIVED {o.target.module}:{s['line']} {s['operator']}")
            print(f"  - {s['original']}\n  + {s['mutant']}")
            print(
                "  [[equivalent]]\n"
                f"  module = {json.dumps(o.target.module)}\n"
                f"  original = {json.dumps(s['original'])}\n"
                f"  mutant = {json.dumps(s['mutant'])}\n"
                + (f"  nth = {s['nth']}\n" if s.get("nth") else "")
                + '  why = "..."'
            )
    if full:
        ran = {o.target.module for o in outcomes}
        for eq in equivalents:
            if eq.module in ran and eq.used == 0:
                print(f"\nSTALE equivalent entry (matches no mutant): {eq.module}: {eq.original}")
                ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    parser.add_argument("--sample", type=int, help="run only this many mutants per target")
    parser.add_argument(
        "--sample-total",
        type=int,
        metavar="N",
        help="about N mutants in all, shared between the targets chosen (at least 2 each): "
        "what `make test` runs, so its time does not grow with the modules a commit changes",
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="only targets whose module differs from git REF (what `make test` samples)",
    )
    parser.add_argument(
        "--line",
        type=int,
        action="append",
        help="only mutants on this line of the target's module (repeatable): re-checking survivors",
    )
    parser.add_argument(
        "--subprocess",
        action="store_true",
        help="run each mutant with cosmic-ray's own executor (a new interpreter each; slower)",
    )
    args = parser.parse_args(argv)

    targets, excluded = load_targets()
    equivalents = load_equivalents()
    if args.targets:
        unknown = set(args.targets) - {t.name for t in targets}
        if unknown:
            parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
        targets = [t for t in targets if t.name in args.targets]
    if args.changed_since:
        changed = changed_modules(args.changed_since)
        if changed is None:
            print(f"mutation: cannot compare with {args.changed_since}; no sample run")
            return 0
        targets = [t for t in targets if t.module in changed]
        if not targets:
            print(f"mutation: no decision-core module changed since {args.changed_since}")
            return 0
    if args.sample_total is not None:
        args.sample = max(2, args.sample_total // len(targets)) if targets else 0
    RUN.mkdir(parents=True, exist_ok=True)
    try:
        copy_tree()
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(TREE / "shared"), str(TREE / "infra"), str(TREE)]
        )
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        # No .pyc in the tree: a mutant of the same size written within the same second
        # as the source would otherwise be shadowed by the original's cached bytecode.
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        outcomes = [
            run_target(
                t,
                excluded,
                equivalents,
                args.sample,
                args.seed,
                args.subprocess,
                set(args.line or ()),
            )
            for t in targets
        ]
    finally:
        shutil.rmtree(RUN, ignore_errors=True)
    ok = report(outcomes, equivalents, full=args.sample is None and not args.line)
    if args.sample is not None or args.line:
        # A sample fails the build only for the targets marked `gate`.
        ok = all(o.score >= o.target.min_score for o in outcomes if o.target.gate)
    return 0 if ok else 1


def changed_modules(ref: str) -> set[str] | None:
    """Paths that differ between git ``ref`` and the working tree; None without that ref."""
    result = subprocess.run(
        ["git", "diff", "--name-only", ref, "--"], cwd=ROOT, capture_output=True, text=True
    )
    return None if result.returncode != 0 else set(result.stdout.split())


if __name__ == "__main__":
    sys.exit(main())
