from __future__ import annotations

import random

import pytest

from bonestore_infra import bench_rules

pytestmark = pytest.mark.unit


def test_generated_ruleset_has_the_benchmarked_size() -> None:
    rng = random.Random(1)
    products = bench_rules.generated_products(50, rng)
    ruleset = bench_rules.generated_ruleset(1_000, products, rng)
    assert len(ruleset.rules) == 1_000
    assert {p.kind for p in products} == {"physical", "digital"}


def test_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_rules.main(["--carts", "50", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "(a) default" in out and "(b) generated" in out and "carts/s" in out


def test_bench_ignores_the_callers_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make bench` calls main() from its own command line (`--only rules`)."""

    class Parsed(Exception):
        pass

    def stop_after_parsing() -> None:
        raise Parsed

    monkeypatch.setattr("sys.argv", ["bench", "--only", "rules"])
    monkeypatch.setattr(bench_rules, "load_ruleset", stop_after_parsing)
    with pytest.raises(Parsed):  # argparse would have exited on --only
        bench_rules.main()
