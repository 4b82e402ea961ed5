"""The index and the memo change no decision and stay bounded (docs/rules.md, "Speed").

The index offers a line only the rules that can apply to it (by country, then by SKU,
first ingredient test, first ``eq`` attribute test, category or kind), and lets the rules
its key alone decides skip ``match``. A rule it failed to offer, or one it wrongly
treated as decided, is a wrong decision: these tests decide lines at the index's edges
(rules with several products, countries, subdivisions, postal codes, PO boxes, windows,
attribute and ingredient tests) and pin what docs/rules.md says they decide. The memo
keys a line's decision on every input some rule can read, and each of the engine's
caches has a bound (``Engine.cache_sizes``): the tests set the bounds small and check
that they hold and that a cache that restarts forgets what used it.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartLine, Engine, Ruleset
from bonestore.domain.rules import conditions as rules_conditions
from bonestore.domain.rules import engine as rules_engine
from bonestore.domain.rules import index as rules_index
from tests.unit.spec.test_spec_rules import NOW, US_NY, ids, line, product

pytestmark = pytest.mark.unit

US = Destination(country="US")
CA = Destination(country="CA")
PERMIT_ALL = {"id": "permit-all", "effect": "permit"}


def rule(id: str, effect: str = "forbid", message: str = "m", **extra: Any) -> dict[str, Any]:
    return {"id": id, "effect": effect, "code": "no_go", "message": message, "source": "t", **extra}


def engine(*rules: dict[str, Any], memo_size: int = rules_index.MEMO_LIMIT) -> Engine:
    full = [{"code": "no_go", "message": "m", "source": "t", **r} for r in rules]
    ruleset = Ruleset.model_validate(
        {
            "methods": {"standard": {"name": "Standard"}, "express": {"name": "Express"}},
            "rules": full,
        }
    )
    return Engine(ruleset, memo_size=memo_size)


def when(**conditions: Any) -> dict[str, Any]:
    """``when`` from destination fields (countries, subdivisions, postal_codes, po_box)
    and product fields (the rest)."""
    dest_fields = {"countries", "subdivisions", "postal_codes", "po_box"}
    out: dict[str, Any] = {}
    for key, value in conditions.items():
        out.setdefault("destination" if key in dest_fields else "product", {})[key] = value
    return {"when": out}


def eligible(eng: Engine, item: Product, dest: Destination = US_NY, qty: int = 1) -> bool:
    return bool(line(eng, item, dest, qty).eligible)


def decided_fresh(eng: Engine, lines: list[CartLine], dest: Destination) -> dict[str, Any]:
    """The decision of an engine of the same ruleset that remembers nothing."""
    return Engine(eng.ruleset, memo_size=0).decide(lines, dest, NOW).to_json()


BOOK = product("BOOK-1", category="book")
SUPPLEMENT = product("SUPP-1", category="supplement", supply_days=30)
DIGITAL = product("EBOOK-1", kind="digital", category="book")


# ====================================================================== SKU rules


def test_a_sku_rule_with_a_subdivision_applies_only_in_that_subdivision() -> None:
    eng = engine(PERMIT_ALL, rule("hi", **when(skus=["BOOK-1"], subdivisions=["US-HI"])))
    assert eligible(eng, BOOK, US_NY)
    assert not eligible(eng, BOOK, Destination(country="US", subdivision="US-HI"))


def test_a_sku_rule_with_postal_codes_applies_only_inside_them() -> None:
    postal = {"ranges": [{"from": "96700", "to": "96899"}]}
    eng = engine(PERMIT_ALL, rule("hi-zip", **when(skus=["BOOK-1"], postal_codes=postal)))
    assert eligible(eng, BOOK, Destination(country="US", postal_code="10001"))
    assert not eligible(eng, BOOK, Destination(country="US", postal_code="96801"))


def test_a_sku_rule_on_po_boxes_applies_only_to_a_po_box() -> None:
    eng = engine(PERMIT_ALL, rule("po", **when(skus=["BOOK-1"], po_box=True)))
    assert eligible(eng, BOOK, Destination(country="US", line1="1 Main St"))
    assert not eligible(eng, BOOK, Destination(country="US", line1="PO Box 12"))


@pytest.mark.parametrize(
    ("window", "at", "applies"),
    [
        ({"effective_from": "2027-01-01"}, NOW, False),
        ({"effective_from": "2026-01-01"}, NOW, True),
        ({"effective_until": "2026-01-01"}, NOW, False),
        ({"effective_until": "2027-01-01"}, NOW, True),
    ],
)
def test_a_sku_rule_applies_only_inside_its_effective_window(
    window: dict[str, str], at: datetime, applies: bool
) -> None:
    for effect in ("forbid", "permit"):
        eng = engine(
            *([PERMIT_ALL] if effect == "forbid" else []),
            rule("dated", effect, **when(skus=["BOOK-1"]), **window),
        )
        assert eligible(eng, BOOK) is (applies if effect == "permit" else not applies)


def test_one_engine_follows_each_rule_of_a_group_in_and_out_of_its_window() -> None:
    """The groups keep a view per time bucket: a long-lived engine deciding at instants
    before, inside and after windows (in any order) meets each rule only inside its own."""
    before, inside, after = (datetime(y, 6, 1, tzinfo=UTC) for y in (2025, 2026, 2027))
    window = {"effective_from": "2026-01-01", "effective_until": "2027-01-01"}
    eng = engine(
        rule("dated-permit", "permit", **when(countries=["US"], categories=["book"]), **window),
        rule("dated-forbid", **when(skus=["BOOK-2"]), **window),
        rule("dated-limit", "limit", max_quantity=1, **when(categories=["book"]), **window),
        rule("dated-why", "default", message="{country}", **when(kinds=["physical"]), **window),
        rule("no-book-later", **when(categories=["book"]), effective_from="2027-01-01"),
        memo_size=0,
    )
    book2 = product("BOOK-2", category="book")
    expected = {
        before: (["default-deny"], ["default-deny"], None, ["default-deny"]),
        inside: ([], ["dated-forbid"], 1, ["dated-limit"]),
        after: (["no-book-later"], ["no-book-later"], None, ["no-book-later"]),
    }
    for at in [inside, before, after, inside, after, before, inside]:
        one, two, limit, at_two = expected[at]
        assert ids(line(eng, BOOK, US, at=at)) == one, at
        assert ids(line(eng, book2, US, at=at)) == two, at
        assert line(eng, BOOK, US, at=at).max_quantity == limit, at
        assert ids(line(eng, BOOK, US, qty=2, at=at)) == at_two, at
    for at, message in [
        (inside, "CA"),
        (before, "Nothing permits shipping Product BOOK-1 to Canada."),
    ]:
        assert [r.message for r in line(eng, BOOK, CA, at=at).reasons] == [message], at


def test_a_groups_days_supply_limits_follow_each_products_supply_days() -> None:
    """What a group's key-decided rules add to a line is kept per message values; a
    days-supply limit's also per the product's supply_days (none at all: a rule error)."""
    eng = engine(
        PERMIT_ALL,
        rule("ninety-days", "limit", max_supply_days=90, **when(kinds=["physical"])),
        rule(
            "say-max",
            "limit",
            max_quantity=5,
            message="at most {max_quantity}",
            **when(kinds=["physical"]),
        ),
        memo_size=0,
    )
    for days, limit in [(30, 3), (45, 2), (30, 3), (90, 1), (120, 0)]:
        # One name for all: the products differ in their supply_days alone.
        item = product(f"S-{days}", category="supplement", supply_days=days).model_copy(
            update={"name": "Calcium"}
        )
        assert line(eng, item, US).max_quantity == limit, days
        assert ids(line(eng, item, US, qty=limit + 1)) == ["ninety-days"], days
    for sku in ("BOOK-7", "BOOK-8"):  # a book has no supply_days
        decided = line(eng, product(sku, category="book"), US, qty=1)
        assert [(r.rule_id, r.code) for r in decided.reasons] == [("ninety-days", "rule_error")]
        assert f"Product {sku}" in decided.reasons[0].message
    over = line(eng, product("S-1", category="supplement", supply_days=1), US, qty=6)
    assert [r.message for r in over.reasons] == ["at most 5"]


def test_a_sku_rule_with_another_product_condition_needs_it_too() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("sku-cat", **when(skus=["BOOK-1", "SUPP-1"], categories=["supplement"])),
        rule("sku-kind", **when(skus=["EBOOK-1", "BOOK-1"], kinds=["digital"])),
        rule("sku-attr", **when(skus=["BOOK-1"], attributes=[{"name": "cover", "op": "exists"}])),
        rule(
            "sku-ingredient", **when(skus=["BOOK-1", "SUPP-1"], ingredients=[{"any_of": ["iron"]}])
        ),
    )
    assert eligible(eng, BOOK)
    assert ids(line(eng, SUPPLEMENT)) == ["sku-cat"]
    assert ids(line(eng, DIGITAL)) == ["sku-kind"]
    assert ids(line(eng, product("BOOK-1", cover="hard"))) == ["sku-attr"]
    assert ids(line(eng, product("BOOK-1", ingredients={"iron": {}}))) == ["sku-ingredient"]


def test_a_rule_listing_several_skus_applies_to_each_and_only_to_them() -> None:
    eng = engine(PERMIT_ALL, rule("two", **when(skus=["BOOK-1", "SUPP-1"])))
    assert not eligible(eng, BOOK)
    assert not eligible(eng, SUPPLEMENT)
    assert eligible(eng, DIGITAL)


def test_a_sku_permit_alone_lets_only_that_sku_ship() -> None:
    eng = engine(rule("book-ok", "permit", **when(skus=["BOOK-1"])))
    assert eligible(eng, BOOK)
    assert ids(line(eng, SUPPLEMENT)) == ["default-deny"]


def test_a_sku_default_names_why_nothing_permits_that_sku() -> None:
    eng = engine(rule("book-why", "default", **when(skus=["BOOK-1"])))
    assert ids(line(eng, BOOK)) == ["book-why"]
    assert ids(line(eng, SUPPLEMENT)) == ["default-deny"]


def test_a_sku_limit_caps_that_sku_and_a_days_supply_limit_on_it_needs_supply_days() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("book-2", "limit", max_quantity=2, **when(skus=["BOOK-1"])),
        rule("supp-60", "limit", max_supply_days=60, **when(skus=["SUPP-1"])),
        rule("plain-60", "limit", max_supply_days=60, **when(skus=["PLAIN-1"])),
    )
    assert line(eng, BOOK, qty=2).eligible
    assert ids(line(eng, BOOK, qty=3)) == ["book-2"]
    assert line(eng, SUPPLEMENT, qty=2).max_quantity == 2
    assert ids(line(eng, SUPPLEMENT, qty=3)) == ["supp-60"]
    assert ids(line(eng, product("PLAIN-1"))) == ["plain-60"]
    assert line(eng, product("PLAIN-1")).reasons[0].code == "rule_error"


# ====================================================================== countries


def test_a_rule_listing_several_countries_applies_in_each_and_only_there() -> None:
    eng = engine(PERMIT_ALL, rule("north", **when(countries=["CA", "NO"], skus=["BOOK-1"])))
    assert not eligible(eng, BOOK, CA)
    assert not eligible(eng, BOOK, Destination(country="NO"))
    assert eligible(eng, BOOK, US)


def test_rules_naming_no_country_and_rules_of_the_country_both_apply() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("everywhere", **when(categories=["book"])),
        rule("in-ca", **when(countries=["CA"], categories=["book"])),
    )
    assert ids(line(eng, BOOK, CA)) == ["everywhere", "in-ca"]
    assert ids(line(eng, BOOK, US)) == ["everywhere"]


# ====================================================================== categories, kinds


def test_a_category_rule_with_a_kind_applies_only_to_that_kind() -> None:
    eng = engine(PERMIT_ALL, rule("digital-books", **when(categories=["book"], kinds=["digital"])))
    assert eligible(eng, BOOK)
    assert not eligible(eng, DIGITAL)


def test_a_kind_rule_with_a_subdivision_applies_only_there() -> None:
    eng = engine(PERMIT_ALL, rule("hi", **when(kinds=["physical"], subdivisions=["US-HI"])))
    assert eligible(eng, BOOK, US_NY)
    assert not eligible(eng, BOOK, Destination(country="US", subdivision="US-HI"))
    assert eligible(eng, DIGITAL, Destination(country="US", subdivision="US-HI"))


def test_rules_of_several_categories_and_kinds_apply_to_each_listed() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("cats", **when(categories=["book", "media"])),
        rule("kinds", **when(kinds=["digital", "physical"], countries=["CA"])),
    )
    assert ids(line(eng, BOOK, US)) == ["cats"]
    assert ids(line(eng, product("DVD-1", category="media"), US)) == ["cats"]
    assert eligible(eng, SUPPLEMENT, US)
    assert ids(line(eng, SUPPLEMENT, CA)) == ["kinds"]
    assert ids(line(eng, DIGITAL, CA)) == ["cats", "kinds"]


# ====================================================================== attributes


def test_an_eq_attribute_rule_applies_to_the_equal_value_only() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("thirty", **when(attributes=[{"name": "supply_days", "op": "eq", "value": 30}])),
        rule("hard", **when(attributes=[{"name": "cover", "op": "eq", "value": "hard"}])),
    )
    assert ids(line(eng, product("S-30", supply_days=30, cover="soft"))) == ["thirty"]
    assert eligible(eng, product("S-60", supply_days=60, cover="soft"))
    assert ids(line(eng, product("B-H", cover="hard", supply_days=60))) == ["hard"]


def test_an_eq_attribute_rule_with_a_second_test_needs_both() -> None:
    tests = [
        {"name": "cover", "op": "eq", "value": "hard"},
        {"name": "pages", "op": "gt", "value": 100},
    ]
    eng = engine(PERMIT_ALL, rule("big-hard", **when(attributes=tests)))
    assert eligible(eng, product("B-1", cover="hard", pages=50))
    assert not eligible(eng, product("B-2", cover="hard", pages=500))


def test_an_eq_attribute_rule_with_a_category_needs_the_category_too() -> None:
    eng = engine(
        PERMIT_ALL,
        rule(
            "hard-books",
            **when(
                categories=["book"], attributes=[{"name": "cover", "op": "eq", "value": "hard"}]
            ),
        ),
    )
    assert not eligible(eng, product("B-1", cover="hard"))
    assert eligible(eng, product("S-1", category="supplement", cover="hard", supply_days=30))


def test_a_comparison_attribute_rule_applies_to_every_value_it_admits() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("long", **when(attributes=[{"name": "supply_days", "op": "gt", "value": 30}])),
    )
    assert eligible(eng, SUPPLEMENT)
    assert not eligible(eng, product("S-90", category="supplement", supply_days=90))


def test_an_eq_attribute_rule_errors_on_a_product_without_the_attribute() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("hard", **when(attributes=[{"name": "cover", "op": "eq", "value": "hard"}])),
        rule("thick", **when(attributes=[{"name": "pages", "op": "eq", "value": 900}])),
    )
    # The first indexed attribute is missing: its rule errors, the second still applies.
    found = line(eng, product("B-1", pages=900))
    assert ids(found) == ["hard", "thick"]
    assert [r.code for r in found.reasons] == ["rule_error", "no_go"]


def test_an_attribute_value_that_is_a_list_is_compared_not_refused() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("red", **when(attributes=[{"name": "colour", "op": "eq", "value": "red"}])),
        rule("blue", **when(attributes=[{"name": "size", "op": "eq", "value": "xl"}])),
    )
    # A list equals no string: neither rule applies, and no lookup error escapes.
    assert eligible(eng, product("B-1", colour=["red", "blue"], size="m"))
    assert ids(line(eng, product("B-2", colour=["red"], size="xl"))) == ["blue"]


# ====================================================================== ingredients


def test_an_ingredient_rule_applies_to_a_product_with_any_listed_ingredient() -> None:
    eng = engine(
        PERMIT_ALL, rule("hormones", **when(ingredients=[{"any_of": ["dhea", "melatonin"]}]))
    )
    assert not eligible(eng, product("S-1", ingredients={"melatonin": {}}))
    assert not eligible(eng, product("S-2", ingredients={"dhea": {}}))
    assert eligible(eng, product("S-3", ingredients={"calcium": {}}))


def test_rules_found_by_ingredient_or_attribute_apply_only_inside_their_windows() -> None:
    """Rules the index finds by an ingredient, or by an attribute a product lacks, are
    matched one by one: their windows too, from the first instant (applies) to the last
    (does not), in the answer and in the trace."""
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    window = {"effective_from": "2026-01-01", "effective_until": "2027-01-01"}
    eng = engine(
        PERMIT_ALL,
        rule("dated-iron", **when(ingredients=[{"any_of": ["iron"]}]), **window),
        rule(
            "dated-hard",
            **when(attributes=[{"name": "cover", "op": "eq", "value": "hard"}]),
            effective_from="2026-01-01",
        ),
        rule(
            "until-hard",
            **when(attributes=[{"name": "cover", "op": "eq", "value": "hard"}]),
            effective_until="2027-01-01",
        ),
        memo_size=0,
    )
    iron = product("S-1", ingredients={"iron": {}}, cover="soft")
    coverless = product("B-1")  # no cover: the attribute rules are matched (and error)
    second = timedelta(seconds=1)
    for at, iron_ids, coverless_ids in [
        (start - second, [], ["until-hard"]),
        (start, ["dated-iron"], ["dated-hard", "until-hard"]),
        (end - second, ["dated-iron"], ["dated-hard", "until-hard"]),
        (end, [], ["dated-hard"]),
        (end + timedelta(days=30), [], ["dated-hard"]),
    ]:
        assert ids(line(eng, iron, US, at=at)) == iron_ids, at
        assert ids(line(eng, coverless, US, at=at)) == coverless_ids, at
    traced = eng.decide([CartLine(iron, 1)], US, end, trace=True).items[0].trace or []
    assert {step["rule_id"]: step["result"] for step in traced}["dated-iron"] == "inactive"


def test_a_product_with_two_listed_ingredients_gets_the_rules_reason_once() -> None:
    eng = engine(
        PERMIT_ALL,
        rule("hormones", **when(ingredients=[{"any_of": ["dhea", "melatonin"]}])),
        rule("minerals", **when(ingredients=[{"any_of": ["calcium", "iron"]}])),
        rule("in-ca", **when(countries=["CA"], categories=["book"])),
    )
    both = product("S-1", ingredients={"dhea": {}, "melatonin": {}, "calcium": {}, "iron": {}})
    assert ids(line(eng, both, US)) == ["hormones", "minerals"]
    # Found twice in the rules of every country, once more in a country of its own.
    assert ids(line(eng, both, CA)) == ["hormones", "in-ca", "minerals"]
    traced = eng.decide([CartLine(both, 1)], US, NOW, trace=True).items[0].trace or []
    assert [step["rule_id"] for step in traced] == ["hormones", "minerals", "permit-all"]


def test_a_country_ingredient_rule_found_twice_gives_one_reason() -> None:
    eng = engine(
        PERMIT_ALL,
        rule(
            "ca-hormones", **when(countries=["CA"], ingredients=[{"any_of": ["dhea", "melatonin"]}])
        ),
    )
    both = product("S-1", ingredients={"dhea": {}, "melatonin": {}})
    assert ids(line(eng, both, CA)) == ["ca-hormones"]
    assert eligible(eng, both, US)


# ====================================================================== messages


def test_a_message_names_the_product_and_country_of_each_line() -> None:
    eng = engine(
        PERMIT_ALL,
        rule(
            "books",
            message="{product_name} may not go to {country_name}",
            **when(categories=["book"]),
        ),
        rule("books-why", "default", message="{sku} in {country}", **when(categories=["book"])),
    )
    assert [r.message for r in line(eng, BOOK, US).reasons] == [
        "Product BOOK-1 may not go to United States"
    ]
    assert [r.message for r in line(eng, product("BOOK-2"), CA).reasons] == [
        "Product BOOK-2 may not go to Canada"
    ]
    no_permit = engine(
        rule("books-why", "default", message="{sku} in {country}", **when(categories=["book"]))
    )
    assert [r.message for r in line(no_permit, BOOK, US).reasons] == ["BOOK-1 in US"]
    assert [r.message for r in line(no_permit, product("BOOK-2"), CA).reasons] == ["BOOK-2 in CA"]


# ====================================================================== methods


def offer(id: str, method: str, amount: int, **extra: Any) -> dict[str, Any]:
    return rule(
        id, "offer_method", method=method, price={"amount": amount, "currency": "USD"}, **extra
    )


def methods(eng: Engine, dest: Destination) -> dict[str, int]:
    found = eng.decide([CartLine(BOOK, 1)], dest, NOW).shipping_methods
    return {m.id: m.price.amount for m in found}


def test_a_method_offered_everywhere_and_one_offered_in_a_country_are_both_listed_there() -> None:
    eng = engine(
        PERMIT_ALL,
        offer("standard-all", "standard", 500),
        offer("express-ca", "express", 2000, **when(countries=["CA", "NO"])),
    )
    assert methods(eng, US) == {"standard": 500}
    assert methods(eng, CA) == {"standard": 500, "express": 2000}
    assert methods(eng, Destination(country="NO")) == {"standard": 500, "express": 2000}


# ====================================================================== the memo's keys


def test_the_memo_tells_postal_codes_apart_where_a_rule_reads_them() -> None:
    postal = {"ranges": [{"from": "96700", "to": "96899"}]}
    for where in ({"countries": ["US"]}, {}):
        eng = engine(PERMIT_ALL, rule("hi-zip", **when(postal_codes=postal, **where)))
        for _ in range(2):  # cold, then warm
            assert not eligible(eng, BOOK, Destination(country="US", postal_code="96801"))
            assert eligible(eng, BOOK, Destination(country="US", postal_code="10001"))


def test_the_memo_tells_po_boxes_apart_where_a_rule_reads_them() -> None:
    for where in ({"countries": ["US"]}, {}):
        eng = engine(PERMIT_ALL, rule("po", **when(po_box=True, **where)))
        for _ in range(2):
            assert not eligible(eng, BOOK, Destination(country="US", line1="PO Box 1"))
            assert eligible(eng, BOOK, Destination(country="US", line1="1 Main St"))


def test_a_postal_or_po_box_rule_is_the_only_one_that_makes_the_memo_read_those_fields() -> None:
    # No other rule names the destination's postal code or first line, and none applies
    # everywhere: only the postal (or PO-box) rule itself can make the memo tell them apart.
    permit_ca = rule("permit-ca", "permit", **when(countries=["CA"]))
    postal = {"ranges": [{"from": "96700", "to": "96899"}]}
    inside = Destination(country="US", postal_code="96801")
    outside = Destination(country="US", postal_code="10001")
    po_box = Destination(country="US", line1="PO Box 1")
    street = Destination(country="US", line1="1 Main St")
    for where in ({"countries": ["US"]}, {}):
        by_postal = engine(permit_ca, rule("hi-zip", **when(postal_codes=postal, **where)))
        by_po_box = engine(permit_ca, rule("po", **when(po_box=True, **where)))
        for _ in range(2):
            assert ids(line(by_postal, BOOK, inside)) == ["hi-zip"]
            assert ids(line(by_postal, BOOK, outside)) == ["default-deny"]
            assert ids(line(by_po_box, BOOK, po_box)) == ["po"]
            assert ids(line(by_po_box, BOOK, street)) == ["default-deny"]


def test_the_memo_tells_the_time_before_and_after_a_rules_end_apart() -> None:
    eng = engine(PERMIT_ALL, rule("until", effective_until="2026-06-01T12:00:00Z"))
    cart = [CartLine(BOOK, 1)]
    for _ in range(2):
        assert not eng.decide(cart, US, datetime(2026, 6, 1, 11, 59, tzinfo=UTC)).eligible
        assert eng.decide(cart, US, datetime(2026, 6, 1, 12, tzinfo=UTC)).eligible


# ====================================================================== the memo's bounds
# Bounds above 256 in these tests: CPython shares the int objects up to 256, so a bound
# compared by identity (`is`) instead of value would hold below it and never above.
BOUND = 260


def fills_then_stays_within(eng: Engine, entries: int, **bounds: int) -> None:
    """After ``entries`` distinct inputs, each cache named holds all of them until its
    bound (it remembers), and never more than the bound (it forgets)."""
    found = eng.cache_sizes()
    expected = {name: min(entries, bound) for name, bound in bounds.items()}
    wrong = {
        name: found[name]
        for name, bound in bounds.items()
        if found[name] > bound or (entries <= bound and found[name] != entries)
    }
    assert not wrong, f"after {entries} inputs, expected {expected}: {wrong}"


def test_the_memo_remembers_at_most_memo_size_lines() -> None:
    eng = engine(PERMIT_ALL, memo_size=BOUND)
    for i in range(2 * BOUND + 10):
        eng.decide([CartLine(product(f"P-{i}"), 1)], US, NOW)
        fills_then_stays_within(eng, i + 1, lines=BOUND, products=BOUND)
    # One product, many addresses a rule tells apart: the lines, not the products, fill.
    postal = {"ranges": [{"from": "10000", "to": "10099"}]}
    eng = engine(PERMIT_ALL, rule("nyc", **when(postal_codes=postal)), memo_size=BOUND)
    for i in range(2 * BOUND + 10):
        assert eligible(eng, BOOK, Destination(country="US", postal_code=f"{10000 + i}")) is (
            i >= 100
        )
        fills_then_stays_within(eng, i + 1, lines=BOUND)


def test_the_memo_forgets_a_product_object_once_product_ids_restart() -> None:
    # Every third product is forbidden, so a line answered from another's entry shows.
    forbidden = {f"P-{i}" for i in range(0, 40, 3)}
    for size in (2, 3):
        eng = engine(PERMIT_ALL, rule("thirds", **when(skus=sorted(forbidden))), memo_size=size)
        items = [product(f"P-{i}") for i in range(12)]
        for item in [*items, *items, items[1], items[4], items[3], items[0], *items[::-1]]:
            assert eligible(eng, item) is (item.sku not in forbidden), (size, item.sku)


def test_object_keys_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_index, "OBJECT_KEYS_LIMIT", BOUND)
    eng = engine(PERMIT_ALL)
    for i in range(2 * BOUND + 10):
        dest = Destination(country="US", subdivision="US-NY", line1=f"{i} Main St")
        eng.decide([CartLine(product(f"P-{i}"), 1)], dest, NOW)
        fills_then_stays_within(eng, i + 1, product_ids=BOUND, destination_ids=BOUND)


def test_destinations_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_index, "DESTINATIONS_LIMIT", BOUND)
    postal = {"ranges": [{"from": "10000", "to": "10099"}]}
    eng = engine(PERMIT_ALL, rule("nyc", **when(postal_codes=postal)))
    for i in range(2 * BOUND + 10):
        dest = Destination(country="US", postal_code=f"{10000 + i}")
        assert eligible(eng, BOOK, dest) is (i >= 100)
        fills_then_stays_within(eng, i + 1, destinations=BOUND)


def test_destination_ids_restart_and_forget_what_used_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules_index, "DESTINATIONS_LIMIT", 2)
    eng = engine(
        PERMIT_ALL,
        rule("no-us", **when(countries=["US"])),
        offer("standard-ca", "standard", 700, **when(countries=["CA"])),
        offer("standard-gb", "standard", 900, **when(countries=["GB"])),
    )
    gb = Destination(country="GB")
    cart = [CartLine(BOOK, 1)]
    for dest in [US, CA, gb, US, gb, CA, US, US, CA, gb]:
        decision = eng.decide(cart, dest, NOW)
        assert decision.to_json() == decided_fresh(eng, cart, dest), dest.country


def test_message_reasons_per_index_group_stay_within_their_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules_index, "REASONS_LIMIT", BOUND)
    eng = engine(
        PERMIT_ALL, rule("books", message="no {sku}", **when(categories=["book"])), memo_size=0
    )
    for i in range(2 * BOUND + 10):
        found = line(eng, product(f"B-{i}"))
        assert [r.message for r in found.reasons] == [f"no B-{i}"]
        fills_then_stays_within(eng, i + 1, group_reasons=BOUND, plan_reasons=BOUND)


def test_class_plans_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # A product class is its kind, category and the values of the attributes the rules
    # index: every form value below is a class of its own.
    monkeypatch.setattr(rules_index, "CLASS_PLANS_LIMIT", BOUND)
    powder = [{"name": "form", "op": "eq", "value": "f-0"}]
    eng = engine(PERMIT_ALL, rule("f0", **when(attributes=powder)), memo_size=0)
    for i in range(2 * BOUND + 10):
        found = line(eng, product(f"B-{i}", form=f"f-{i % (2 * BOUND)}"))
        assert ids(found) == (["f0"] if i % (2 * BOUND) == 0 else []), i
        fills_then_stays_within(eng, min(i + 1, 2 * BOUND), class_plans=BOUND)


def test_class_plans_pushed_over_their_bound_come_back_within_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two threads of the local gateway may each add a plan at the bound (the check and the
    insert are not one step): the next new class still clears the cache, it never grows
    from there."""
    monkeypatch.setattr(rules_index, "CLASS_PLANS_LIMIT", BOUND)
    eng = engine(PERMIT_ALL, memo_size=0)
    plans = eng._index.class_plans
    line(eng, BOOK)
    (plan,) = plans.values()
    for i in range(BOUND + 1):  # one more than the bound, as the race leaves it
        plans[("XX", i)] = plan
    assert eligible(eng, BOOK, Destination(country="CA"))  # a class not planned yet
    assert len(plans) <= BOUND


def test_products_of_one_class_share_its_plan_but_not_their_own_rules() -> None:
    """The plan decides what every product of the class meets; a product's SKU rules, its
    ingredients' rules and the values its reasons name stay its own."""
    eng = engine(
        PERMIT_ALL,
        rule("books", message="no {product_name}", **when(categories=["book"])),
        rule("one-sku", **when(skus=["B-1"])),
        memo_size=0,
    )
    for _ in range(2):
        first, second = line(eng, product("B-1")), line(eng, product("B-2"))
        assert ids(first) == ["books", "one-sku"]
        assert ids(second) == ["books"]
        assert second.reasons[0].message == "no Product B-2"
    assert eng.cache_sizes()["class_plans"] == 1


def test_a_group_whose_reasons_need_no_message_values_keeps_one_outcome() -> None:
    permits_only = engine(PERMIT_ALL, memo_size=0)
    line(permits_only, BOOK)
    assert permits_only.cache_sizes()["group_reasons"] == 0  # a permit adds no reason
    fixed = engine(PERMIT_ALL, rule("books", **when(categories=["book"])), memo_size=0)
    for item in (BOOK, product("BOOK-2"), BOOK):
        assert ids(line(fixed, item)) == ["books"]
        assert fixed.cache_sizes()["group_reasons"] == 1


def test_time_bucket_views_per_index_group_stay_within_their_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules_index, "VIEWS_LIMIT", BOUND)
    years = range(2000, 2000 + 2 * BOUND + 10)
    # A window per year: each year is its own time bucket, the even ones forbidding books.
    eng = engine(
        PERMIT_ALL,
        *(
            rule(
                f"y{y}",
                **when(categories=["book"]),
                effective_from=f"{y}-01-01",
                effective_until=f"{y}-12-31",
            )
            for y in years
            if y % 2 == 0
        ),
        memo_size=0,
    )
    fresh = eng.cache_sizes()
    assert (fresh["group_views"], fresh["group_reasons"]) == (0, 0)
    for i, y in enumerate(years):
        at = datetime(y, 6, 1, tzinfo=UTC)
        assert ids(line(eng, BOOK, US, at=at)) == ([f"y{y}"] if y % 2 == 0 else []), y
        fills_then_stays_within(eng, i + 1, group_views=BOUND)


def test_a_ruleset_restored_from_a_pickle_indexes_and_decides_as_the_validated_one() -> None:
    # The compiled artifact is a pickle (rules/compiled.py); its strings are equal to the
    # validated ones but not the same objects, so the index must compare values.
    eng = engine(
        rule("books-ok", "permit", **when(skus=["BOOK-1", "SUPP-1", "H-1"])),
        rule("supplements", **when(categories=["supplement"])),
        rule("digital-why", "default", **when(kinds=["digital"])),
        rule("two-books", "limit", max_quantity=2, **when(skus=["BOOK-1"])),
        rule("hard", **when(attributes=[{"name": "cover", "op": "eq", "value": "hard"}])),
    )
    restored = Engine(pickle.loads(pickle.dumps(eng.ruleset)))
    cart = [
        CartLine(product("BOOK-1", cover="soft"), 3),
        CartLine(product("SUPP-1", category="supplement", supply_days=30, cover="soft"), 1),
        CartLine(product("EBOOK-1", kind="digital", cover="soft"), 1),
        CartLine(product("H-1", cover="hard"), 1),
    ]
    expected = eng.decide(cart, US, NOW).to_json()
    assert [item["reasons"][0]["rule_id"] for item in expected["items"]] == [
        "two-books",
        "supplements",
        "digital-why",
        "hard",
    ]
    assert restored.decide(cart, US, NOW).to_json() == expected


# ====================================================================== rules matched one by one


def test_a_limit_that_needs_matching_caps_the_line_and_never_denies_it_by_itself() -> None:
    # A subdivision condition keeps the limit out of its key's fast path: it is matched.
    hi = Destination(country="US", subdivision="US-HI")
    capped = rule(
        "hi-two", "limit", max_quantity=2, **when(categories=["book"], subdivisions=["US-HI"])
    )
    eng = engine(PERMIT_ALL, capped)
    assert line(eng, BOOK, hi, qty=2).eligible
    assert line(eng, BOOK, hi, qty=2).max_quantity == 2
    assert ids(line(eng, BOOK, hi, qty=3)) == ["hi-two"]
    # Without a permit the line is refused for that, not for the limit it is within.
    alone = engine(capped)
    assert ids(line(alone, BOOK, hi, qty=1)) == ["default-deny"]
    assert line(alone, BOOK, hi, qty=1).max_quantity == 2


def test_the_shipping_plans_fill_one_per_destination_within_their_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules_engine, "PLANS_LIMIT", BOUND)
    postal = {"ranges": [{"from": "10000", "to": "10099"}]}
    eng = engine(
        PERMIT_ALL,
        offer("standard-all", "standard", 500),
        rule("no-express-nyc", "restrict_method", method="express", **when(postal_codes=postal)),
    )
    for i in range(2 * BOUND + 10):
        assert methods(eng, Destination(country="US", postal_code=f"{10000 + i}")) == {
            "standard": 500
        }
        fills_then_stays_within(eng, i + 1, plans=BOUND)


def test_a_default_that_needs_matching_names_why_nothing_permits_and_never_denies() -> None:
    hi = Destination(country="US", subdivision="US-HI")
    why = rule("hi-why", "default", **when(categories=["book"], subdivisions=["US-HI"]))
    assert eligible(engine(PERMIT_ALL, why), BOOK, hi)
    alone = engine(why)
    assert ids(line(alone, BOOK, hi)) == ["hi-why"]
    restored = Engine(pickle.loads(pickle.dumps(alone.ruleset)))
    assert ids(line(restored, BOOK, hi)) == ["hi-why"]


def test_a_destination_restriction_names_no_product_and_a_product_one_names_it() -> None:
    # docs/rules.md: a restriction with product conditions is judged per physical line.
    eng = engine(
        PERMIT_ALL,
        offer("standard-all", "standard", 500),
        offer("express-all", "express", 2000),
        rule(
            "no-express-us",
            "restrict_method",
            method="express",
            message="[{sku}] express",
            **when(countries=["US"]),
        ),
        rule(
            "no-standard-books",
            "restrict_method",
            method="standard",
            message="[{sku}] standard",
            **when(categories=["book"]),
        ),
    )
    decision = eng.decide([CartLine(BOOK, 1)], US, NOW)
    assert decision.shipping_methods == []
    messages = {m.id: [r.message for r in m.reasons] for m in decision.unavailable_shipping_methods}
    assert messages == {"express": ["[] express"], "standard": ["[BOOK-1] standard"]}


# ====================================================================== the engine's own edges


def test_a_cart_line_cannot_change_once_made() -> None:
    """The memo keys a decision on the line's product: a line is a value."""
    made = CartLine(BOOK, 2)
    with pytest.raises(AttributeError):
        made.quantity = 3  # type: ignore[misc]


def test_a_decision_shows_a_trace_only_when_asked_for_one() -> None:
    eng = engine(PERMIT_ALL, rule("no-hi", **when(countries=["US"], subdivisions=["US-HI"])))
    plain = eng.decide([CartLine(BOOK, 1)], US, NOW)
    assert plain.items[0].trace is None
    assert "trace" not in plain.to_json()["items"][0]
    assert "trace" not in plain.items[0].to_json()  # checkout's not_shippable details
    # Asked for the trace of a decision made without one: an empty trace, not null.
    assert plain.to_json(include_trace=True)["items"][0]["trace"] == []
    traced = eng.decide([CartLine(BOOK, 1)], US, NOW, trace=True)
    steps = traced.to_json(include_trace=True)["items"][0]["trace"]
    assert [(s["rule_id"], s["result"]) for s in steps] == [
        ("no-hi", "no_match"),
        ("permit-all", "match"),
    ]
    # The memo keeps the untraced line only: deciding it again still shows no trace.
    assert eng.decide([CartLine(BOOK, 1)], US, NOW).items[0].trace is None


def test_a_message_names_the_subdivision_and_none_when_there_is_none() -> None:
    eng = engine(
        PERMIT_ALL, rule("no-x", message="not to [{subdivision}]", **when(skus=["BOOK-1"]))
    )
    hawaii = Destination(country="US", subdivision="US-HI")
    assert [r.message for r in line(eng, BOOK, hawaii).reasons] == ["not to [US-HI]"]
    assert [r.message for r in line(eng, BOOK, US).reasons] == ["not to []"]


def test_a_limit_that_cannot_be_evaluated_does_not_hide_the_next_limit_of_its_key() -> None:
    # Both limits are decided by their category key; the first needs supply_days, which
    # the book lacks: a rule_error (fails closed), and the second still caps the line.
    eng = engine(
        PERMIT_ALL,
        rule("a-days", "limit", max_supply_days=90, **when(categories=["book"])),
        rule("b-two", "limit", max_quantity=2, **when(categories=["book"])),
    )
    decided = line(eng, BOOK, US, qty=1)
    assert [(r.rule_id, r.code) for r in decided.reasons] == [("a-days", "rule_error")]
    assert decided.max_quantity == 2


def test_a_limit_counts_the_product_over_its_lines_up_to_exactly_the_limit() -> None:
    eng = engine(PERMIT_ALL, rule("two", "limit", max_quantity=3, **when(skus=["BOOK-1"])))
    for memo_size in (0, rules_index.MEMO_LIMIT):
        eng = Engine(eng.ruleset, memo_size=memo_size)
        at_limit = eng.decide([CartLine(BOOK, 1), CartLine(BOOK, 2)], US, NOW)
        assert at_limit.eligible and [i.quantity for i in at_limit.items] == [1, 2]
        over = eng.decide([CartLine(BOOK, 2), CartLine(BOOK, 2)], US, NOW)
        assert [ids(i) for i in over.items] == [["two"], ["two"]]
        # Two product objects (and SKU strings) of one SKU, as two catalog reads give.
        one, other = (product("".join(["BOOK", "-1"]), category="book") for _ in range(2))
        assert one.sku is not other.sku
        split = eng.decide([CartLine(one, 2), CartLine(other, 2)], US, NOW)
        assert [ids(i) for i in split.items] == [["two"], ["two"]]
        # Other products in the cart, whose SKUs sort before and after, are not counted.
        around = [CartLine(product("A-0"), 5), CartLine(BOOK, 3), CartLine(product("Z-9"), 5)]
        assert eng.decide(around, US, NOW).eligible


def test_memo_size_zero_remembers_nothing_and_one_remembers_one_line() -> None:
    off = engine(PERMIT_ALL, memo_size=0)
    off.decide([CartLine(BOOK, 1)], US, NOW)
    assert off.cache_sizes()["lines"] == 0
    one = engine(PERMIT_ALL, memo_size=1)
    one.decide([CartLine(BOOK, 1)], US, NOW)
    assert one.cache_sizes()["lines"] == 1


def test_a_product_object_seen_before_is_not_serialized_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memo's product key comes from the product's JSON (microseconds): an object the
    memo has met is found by identity instead."""
    serialized: list[str] = []
    original = Product.model_dump_json

    def counting(self: Product, **kwargs: Any) -> str:
        serialized.append(self.sku)
        return original(self, **kwargs)

    monkeypatch.setattr(Product, "model_dump_json", counting)
    eng = engine(PERMIT_ALL)
    twin = product("BOOK-1", category="book")
    for _ in range(3):
        eng.decide([CartLine(BOOK, 1)], US, NOW)
    assert serialized == ["BOOK-1"]
    # An equal product in another object: serialized once, then the same key.
    eng.decide([CartLine(twin, 1)], CA, NOW)
    eng.decide([CartLine(twin, 1)], CA, NOW)
    assert serialized == ["BOOK-1", "BOOK-1"]
    assert eng.cache_sizes()["products"] == 1


def test_a_destination_object_seen_before_is_not_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eng = engine(PERMIT_ALL, rule("no-po", **when(po_box=True)))
    read: list[str | None] = []
    po_box = rules_index.RuleIndex.po_box

    def counting(self: rules_index.RuleIndex, dest: Destination) -> bool:
        read.append(dest.line1)
        return po_box(self, dest)

    monkeypatch.setattr(rules_index.RuleIndex, "po_box", counting)
    box = Destination(country="US", line1="PO Box 5")
    for _ in range(3):
        assert not eligible(eng, BOOK, box)
    assert read == ["PO Box 5"]


def test_the_default_engine_is_built_once_per_process() -> None:
    assert rules_engine.default_engine() is rules_engine.default_engine()


def test_availability_is_for_one_unit() -> None:
    # A limit of 1 admits one unit; a limit of 0 admits none.
    one = engine(PERMIT_ALL, rule("one", "limit", max_quantity=1, **when(skus=["BOOK-1"])))
    assert one.availability(BOOK, "US", NOW)["eligible"] is True
    assert one.availability(BOOK, "US", NOW)["max_quantity"] == 1
    none = engine(PERMIT_ALL, rule("none", "limit", max_quantity=0, **when(skus=["BOOK-1"])))
    assert none.availability(BOOK, "US", NOW)["eligible"] is False


def test_a_product_restriction_on_po_boxes_spares_each_street_address() -> None:
    """The plan of each destination knows whether it is a PO box: a by-product method
    restriction on PO boxes takes express from a PO box only, whichever destinations the
    engine has met before."""
    eng = engine(
        PERMIT_ALL,
        offer("standard-all", "standard", 500),
        offer("express-all", "express", 2000),
        rule(
            "no-express-po-books",
            "restrict_method",
            method="express",
            **when(categories=["book"], po_box=True),
        ),
    )
    # Three destinations the memo tells apart (each its own id, 0 to 2), none a PO box.
    for state in ("US-NY", "US-CA", "US-TX"):
        dest = Destination(country="US", subdivision=state, line1="1 Main St")
        assert methods(eng, dest) == {"standard": 500, "express": 2000}
    assert methods(eng, Destination(country="US", line1="PO Box 9")) == {"standard": 500}


def test_rules_that_need_matching_decide_the_same_in_a_ruleset_restored_from_a_pickle() -> None:
    """The build artifact is a pickle (rules/compiled.py): its effect strings are equal to
    the schema's literals but not the same objects, and must decide the same."""
    hi = {"countries": ["US"], "subdivisions": ["US-HI"]}
    original = engine(
        rule("hi-permit", "permit", **when(categories=["book"], **hi)),
        rule("hi-two", "limit", max_quantity=2, **when(categories=["book"], **hi)),
        rule("hi-no-supp", **when(categories=["supplement"], **hi)),
        rule("hi-why", "default", **when(categories=["program"], kinds=["digital"], **hi)),
    )
    restored = Engine(pickle.loads(pickle.dumps(original.ruleset)))
    hawaii = Destination(country="US", subdivision="US-HI")
    book = line(restored, BOOK, hawaii, qty=2)
    assert (book.eligible, book.max_quantity) == (True, 2)
    assert ids(line(restored, BOOK, hawaii, qty=3)) == ["hi-two"]
    assert ids(line(restored, SUPPLEMENT, hawaii)) == ["hi-no-supp"]
    program = product("PROG-1", kind="digital", category="program")
    assert ids(line(restored, program, hawaii)) == ["hi-why"]
    for item in (BOOK, SUPPLEMENT, program):
        assert line(restored, item, hawaii).reasons == line(original, item, hawaii).reasons


# ====================================================================== what the index spares


@pytest.mark.parametrize(
    "conditions",
    [
        {},  # countries only: the bucket decides it
        {"skus": ["BOOK-1"]},
        {"categories": ["book"]},
        {"kinds": ["physical"]},
        {"attributes": [{"name": "binding", "op": "eq", "value": "paper"}]},
    ],
    ids=["country", "sku", "category", "kind", "eq-attribute"],
)
def test_a_rule_its_index_key_alone_decides_is_never_matched(
    monkeypatch: pytest.MonkeyPatch, conditions: dict[str, Any]
) -> None:
    """docs/rules.md, "Speed": a rule whose one product condition is its index key (and
    that has no other condition or window) meets a line without ``match()``."""
    matched: list[str] = []
    match = rules_conditions.CompiledRule.match

    def counting(self: rules_conditions.CompiledRule, *args: Any) -> bool:
        matched.append(self.rule_id)
        return match(self, *args)

    monkeypatch.setattr(rules_conditions.CompiledRule, "match", counting)
    paperback = product("BOOK-1", category="book", binding="paper")
    for effect in ("forbid", "permit", "default"):
        eng = engine(PERMIT_ALL, rule("keyed", effect, **when(countries=["US"], **conditions)))
        decided = line(eng, paperback, US)
        assert ("keyed" in ids(decided)) is (effect == "forbid")
    assert matched == []


def test_a_rule_with_two_attribute_tests_is_matched_on_the_second() -> None:
    two = [
        {"name": "binding", "op": "eq", "value": "paper"},
        {"name": "pages", "op": "gt", "value": 100},
    ]
    eng = engine(PERMIT_ALL, rule("thick-paper", **when(attributes=two)))
    assert ids(line(eng, product("B-1", binding="paper", pages=300), US)) == ["thick-paper"]
    assert line(eng, product("B-2", binding="paper", pages=90), US).eligible


def test_the_memo_keeps_one_destination_for_addresses_no_rule_tells_apart() -> None:
    """No rule reads a postal code or a PO box here: addresses that differ only there are
    one destination to the memo (its key holds only what some rule can read)."""
    eng = engine(PERMIT_ALL, rule("no-ca", **when(countries=["CA"])))
    for postal, line1 in (("10001", "1 Main St"), ("94105", "PO Box 7"), (None, None)):
        dest = Destination(country="US", postal_code=postal, line1=line1)
        assert eligible(eng, BOOK, dest)
    assert eng.cache_sizes()["destinations"] == 1


@pytest.mark.parametrize("erring_first", [True, False])
def test_a_matched_rule_that_cannot_be_evaluated_does_not_hide_the_rules_after_it(
    erring_first: bool,
) -> None:
    # Both need match (a subdivision): the days-supply limit errors on a book (no
    # supply_days, fail closed), and the forbid after it still applies.
    hi = {"countries": ["US"], "subdivisions": ["US-HI"]}
    erring = rule("a-days", "limit", max_supply_days=90, **when(categories=["book"], **hi))
    forbid = rule("b-no-hi", **when(categories=["book"], **hi))
    eng = engine(PERMIT_ALL, *((erring, forbid) if erring_first else (forbid, erring)))
    decided = line(eng, BOOK, Destination(country="US", subdivision="US-HI"))
    assert [(r.rule_id, r.code) for r in decided.reasons] == [
        ("a-days", "rule_error"),
        ("b-no-hi", "no_go"),
    ]


def test_a_rule_outside_its_window_does_not_hide_the_matched_rules_after_it() -> None:
    hi = {"countries": ["US"], "subdivisions": ["US-HI"]}
    ended = rule("a-ended", effective_until="2020-01-01", **when(categories=["book"], **hi))
    current = rule("b-no-hi", **when(categories=["book"], **hi))
    eng = engine(PERMIT_ALL, ended, current)
    assert ids(line(eng, BOOK, Destination(country="US", subdivision="US-HI"))) == ["b-no-hi"]
