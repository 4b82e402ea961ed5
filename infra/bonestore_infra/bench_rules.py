"""Rules-engine speed: ``python -m bonestore_infra.bench_rules``.

5-line carts against (a) the default ruleset and the seed catalog and (b) a
generated ruleset of 10,000 rules over every country and 1,000 products. Each is
run warm (the engine's per-line memo, as in a running Lambda) and cold (memo
off: every line evaluated against the index). One core, one process.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bonestore.domain.catalog import CATEGORIES, Product, seed_catalog
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartLine, Engine, Ruleset, load_ruleset
from bonestore.domain.rules.engine import all_countries

INGREDIENTS = [f"ingredient_{i}" for i in range(40)] + ["melatonin", "dhea", "vitamin_d3"]


def generated_products(count: int, rng: random.Random) -> list[Product]:
    products = []
    for i in range(count):
        category = rng.choice(CATEGORIES)
        physical = category != "program"
        attributes: dict[str, Any] = {"form": rng.choice(["capsule", "powder", "liquid"])}
        if category == "supplement":
            attributes["supply_days"] = rng.choice([30, 45, 60, 90, 120])
            attributes["ingredients"] = {
                name: {"amount": rng.randint(1, 5000), "unit": rng.choice(["mg", "IU"])}
                for name in rng.sample(INGREDIENTS, rng.randint(1, 6))
            }
        products.append(
            Product.model_validate(
                {
                    "sku": f"GEN-{i:05d}",
                    "name": f"Generated product {i}",
                    "kind": "physical" if physical else "digital",
                    "category": category,
                    "price": {"amount": rng.randint(500, 9999), "currency": "USD"},
                    "stock": 100 if physical else None,
                    "attributes": attributes,
                }
            )
        )
    return products


def generated_ruleset(count: int, products: Sequence[Product], rng: random.Random) -> Ruleset:
    countries = list(all_countries())
    skus = [p.sku for p in products]
    groups = {f"GROUP_{g:02d}": rng.sample(countries, 20) for g in range(20)}
    rules: list[dict[str, Any]] = [
        {
            "id": "digital-everywhere",
            "effect": "permit",
            "when": {"product": {"kinds": ["digital"]}},
        },
        {"id": "no-zone", "effect": "default", "when": {"product": {"kinds": ["physical"]}}},
    ]
    for cc in countries:  # every country: a zone and two methods
        rules.append(
            {
                "id": f"zone-{cc.lower()}",
                "effect": "permit",
                "when": {"destination": {"countries": [cc]}, "product": {"kinds": ["physical"]}},
            }
        )
        rules.append(
            {
                "id": f"standard-{cc.lower()}",
                "effect": "offer_method",
                "method": "standard",
                "price": {"amount": rng.randint(500, 2000), "currency": "USD"},
                "free_from": {"amount": 7500, "currency": "USD"},
                "when": {"destination": {"countries": [cc]}},
            }
        )
    i = 0
    while len(rules) < count:
        i += 1
        where: dict[str, Any] = {
            "countries": rng.sample(countries, rng.randint(1, 4))
            if rng.random() < 0.9
            else [rng.choice(list(groups))]
        }
        what: dict[str, Any]
        roll = rng.random()
        if roll < 0.4:
            what = {"skus": rng.sample(skus, rng.randint(1, 3))}
        elif roll < 0.6:
            what = {"categories": [rng.choice(CATEGORIES)]}
        elif roll < 0.8:
            what = {
                "categories": ["supplement"],
                "ingredients": [
                    {"any_of": rng.sample(INGREDIENTS, 2), "op": "gt", "value": 1000, "unit": "IU"}
                    if rng.random() < 0.5
                    else {"any_of": rng.sample(INGREDIENTS, 2)}
                ],
            }
        else:
            what = {"attributes": [{"name": "form", "op": "eq", "value": "powder"}]}
        rule: dict[str, Any] = {
            "id": f"gen-{i:05d}",
            "when": {"destination": where, "product": what},
        }
        effect = rng.random()
        if effect < 0.6:
            rule["effect"] = "forbid"
        elif effect < 0.8:
            rule["effect"] = "limit"
            rule["when"]["product"] = {"categories": ["supplement"]} | {
                k: v for k, v in what.items() if k == "skus"
            }
            rule["max_supply_days"] = rng.choice([60, 90, 180])
        else:
            rule["effect"] = "permit"
        if rng.random() < 0.1:
            start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 3000))
            rule["effective_from"] = start
            rule["effective_until"] = start + timedelta(days=rng.randint(30, 900))
        rules.append(rule)
    for rule in rules:
        rule.setdefault("code", "generated")
        rule.setdefault("message", f"Rule {rule['id']} applies in {{country_name}}.")
        rule.setdefault("source", "bench")
    return Ruleset.model_validate(
        {"groups": groups, "methods": {"standard": {"name": "Standard"}}, "rules": rules}
    )


def destinations(rng: random.Random, count: int) -> list[Destination]:
    pool = [
        Destination(country="US", subdivision="US-HI"),
        Destination(country="US", subdivision="US-AE", line1="PSC 1 Box 2"),
        Destination(country="US", postal_code="10001", line1="PO Box 12"),
        Destination(country="UA", postal_code="95000"),
        Destination(country="UA", subdivision="UA-30", postal_code="01001"),
        Destination(country="CA", subdivision="CA-QC", postal_code="H2X 1Y4"),
    ]
    countries = list(all_countries())
    pool += [Destination(country=rng.choice(countries)) for _ in range(count - len(pool))]
    return pool


def carts(products: Sequence[Product], rng: random.Random, count: int) -> list[list[CartLine]]:
    return [
        [CartLine(p, rng.randint(1, 3)) for p in rng.sample(list(products), 5)]
        for _ in range(count)
    ]


def run(
    engine: Engine, cart_list: list[list[CartLine]], dests: list[Destination], n: int
) -> dict[str, Any]:
    timings: list[int] = []
    clock = time.perf_counter_ns
    decide = engine.decide
    cpu_start = time.process_time()
    total_start = clock()
    for i in range(n):
        cart = cart_list[i % len(cart_list)]
        dest = dests[(i * 7) % len(dests)]
        start = clock()
        decide(cart, dest)
        timings.append(clock() - start)
    total = (clock() - total_start) / 1e9
    cpu = max(time.process_time() - cpu_start, 1e-9)
    in_order = timings[:]
    timings.sort()
    return {
        "carts_per_s": n / total,
        # On a shared machine wall time includes other processes' turns; CPU time does not.
        "cpu_carts_per_s": n / cpu,
        "p50_us": percentile_us(timings, 0.5),
        "p99_us": percentile_us(timings, 0.99),
        "mean_us": statistics.fmean(timings) / 1000,
        "timings": in_order,  # ns per cart, in the workload's order
    }


def percentile_us(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[int(len(sorted_ns) * q)] / 1000


def fastest_pass_p99(runs: list[dict[str, Any]]) -> float:
    """p99 over carts of each cart's fastest time in the runs (each run is the same
    workload in the same order). A cart that one run caught in another process's time
    slice (this VM's steal time) counts at its time in another run; one slow in every
    run stays slow. Each cart's caches are as cold as in a single run: the other carts
    run between its passes."""
    fastest = sorted(min(times) for times in zip(*(r["timings"] for r in runs), strict=True))
    return percentile_us(fastest, 0.99)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--carts", type=int, default=100_000, help="carts per run")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per row; the best is shown (less noise)"
    )
    # Called from `make bench` (bonestore_infra.bench) with no argv: the defaults, not its argv.
    args = parser.parse_args([] if argv is None else argv)
    rng = random.Random(args.seed)  # noqa: S311 - reproducible bench data, not crypto

    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    started = time.perf_counter()
    default = load_ruleset()
    load_s = time.perf_counter() - started
    products = generated_products(1000, rng)
    started = time.perf_counter()
    big = generated_ruleset(10_000, products, rng)
    build_s = time.perf_counter() - started

    table = Table(
        "ruleset",
        "memo",
        "carts/s",
        "carts/s (cpu)",
        "p50 µs",
        "p99 µs",
        "p99 µs, fastest pass",
        "mean µs",
        "compile ms",
        title=f"5-line carts, {args.carts:,} per run (best of {args.repeat}), one core",
    )
    results: dict[tuple[str, bool], dict[str, float]] = {}
    for label, ruleset, catalog in (
        (f"(a) default, {len(default.rules)} rules", default, seed_catalog()),
        (f"(b) generated, {len(big.rules):,} rules, 1,000 products", big, products),
    ):
        cart_list = carts(catalog, rng, 2000)
        dests = destinations(rng, 300)
        for memo in (True, False):
            started = time.perf_counter()
            engine = Engine(ruleset, memo_size=200_000 if memo else 0)
            compile_ms = (time.perf_counter() - started) * 1000
            n = args.carts if memo else max(args.carts // 5, 1000)
            # Warm-up: imports and caches; with the memo on, one pass over the whole workload
            # (2,000 carts x 300 destinations, paired as in the run) fills it: steady state.
            run(engine, cart_list, dests, min(n, 6000) if memo else min(n, 500))
            runs = [run(engine, cart_list, dests, n) for _ in range(max(args.repeat, 1))]
            result = max(runs, key=lambda r: r["carts_per_s"])
            result["fastest_p99_us"] = fastest_pass_p99(runs)
            results[(label[:3], memo)] = result
            table.add_row(
                label,
                "warm" if memo else "off",
                f"{result['carts_per_s']:,.0f}",
                f"{result['cpu_carts_per_s']:,.0f}",
                f"{result['p50_us']:.1f}",
                f"{result['p99_us']:.1f}",
                f"{result['fastest_p99_us']:.1f}",
                f"{result['mean_us']:.1f}",
                f"{compile_ms:.0f}",
            )
    console.print(table)
    # The engine's targets (issue 14), memo off: a line never seen before.
    a_off, b_off = results[("(a)", False)], results[("(b)", False)]
    for text, ok in (
        (
            f"(a) memo off >= 50,000 carts/s: {a_off['carts_per_s']:,.0f}",
            a_off["carts_per_s"] >= 50_000,
        ),
        (
            f"(b) memo off p99 <= 100 µs: {b_off['p99_us']:,.1f} in the best run, "
            f"{b_off['fastest_p99_us']:,.1f} over each cart's fastest pass",
            b_off["p99_us"] <= 100,
        ),
    ):
        console.print(f"target {text} {'met' if ok else 'MISSED'}")
    console.print(
        f"default ruleset load+validate {load_s * 1000:.0f} ms; "
        f"generated ruleset validate {build_s * 1000:.0f} ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    console.print(
        "warm: the per-line memo filled by one pass over the workload (a running Lambda); "
        "off: every line evaluated against the index (a line never seen before)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
