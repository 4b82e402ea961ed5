"""The engine (indexed, memoized) agrees with the naive reference evaluator (reference.py)
on generated rulesets, catalogs, carts, destinations and dates: the decision, every
reason, every limit, and the shipping methods with their prices.

Counterexamples Hypothesis found are pinned as named tests in
``test_rules_reference_regressions.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bonestore.domain.catalog import CATEGORIES, KINDS, Product
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartDecision, CartLine, Engine, Ruleset
from tests.unit.rules import reference

pytestmark = pytest.mark.unit

INGREDIENTS = ["calcium", "melatonin", "vitamin_d3", "dhea"]
GROUPS = {"EU_SOME": ["DE", "IE"], "ZONE_A": ["US", "PR", "EU_SOME"], "ZONE_B": ["AU", "JP"]}
COUNTRY_ENTRIES = ["US", "PR", "CA", "UA", "AU", "JP", "DE", "GB", "EU_SOME", "ZONE_A", "ZONE_B"]
SUBDIVISIONS = ["US-HI", "US-AK", "US-AA", "UA-43", "UA-14", "CA-QC", "AU-NSW"]
RANGES = [
    {"from": "83000", "to": "87999"},
    {"from": "95000", "to": "98999"},
    {"from": "295000", "to": "299999"},
    {"from": "99500", "to": "99599"},
    {"from": "00600", "to": "00799"},
    {"from": "H2X1Y0", "to": "H2X1Y9"},
    {"from": "2000", "to": "2999"},
]
PATTERNS = [r"995\d\d", r"H2X.*", r"SW1A.*", r"96\d{3}(\d{4})?", r"1\d{6}"]
MESSAGES = [
    "m",
    "No {sku} to {country_name} ({country}{subdivision}).",
    "At most {max_quantity} of {product_name}.",
    "Literal {{braces}} stay single.",
]
DATES = [
    datetime(2019, 6, 1, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),  # a boundary itself
    datetime(2026, 1, 31, 12, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),  # a boundary itself
    datetime(2030, 1, 1, tzinfo=UTC),
]
BOUNDS = ["2020-01-01", "2026-01-01", "2027-01-01", "2027-01-01T00:00:00Z"]
EXTRA_VALUES = st.sampled_from([1, 5, 30, "5", "abc", True, 2.5, "NaN"])


# ------------------------------------------------------------------ catalogs


@st.composite
def products_st(draw: st.DrawFn) -> list[Product]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        category = draw(st.sampled_from(CATEGORIES))
        # A supplement is a physical product (catalog.Product); anything else either.
        kind = "physical" if category == "supplement" else draw(st.sampled_from(KINDS))
        attributes: dict[str, Any] = {}
        if category == "supplement" or draw(st.booleans()):
            attributes["supply_days"] = draw(st.sampled_from([20, 30, 60, 90, 120]))
        ingredients: dict[str, Any] = {}
        # `kava` is in no ruleset's vocabulary: such a product must fail closed.
        for name in draw(
            st.lists(st.sampled_from([*INGREDIENTS, "kava"]), max_size=3, unique=True)
        ):
            ingredients[name] = draw(
                st.sampled_from(
                    [
                        {},
                        {"amount": "800", "unit": "IU"},
                        {"amount": "5000", "unit": "IU"},
                        {"amount": "3", "unit": "mg"},
                        {"amount": "0.5", "unit": "g"},
                        {"amount": "250", "unit": "mcg"},
                    ]
                )
            )
        if ingredients:
            attributes["ingredients"] = ingredients
        if draw(st.booleans()):
            attributes["strength"] = draw(EXTRA_VALUES)
        out.append(
            Product.model_validate(
                {
                    "sku": f"P{i}-{kind[:2].upper()}",
                    "name": f"Product {i}",
                    "kind": kind,
                    "category": category,
                    "price": {
                        "amount": draw(st.sampled_from([500, 2495, 4000, 7500])),
                        "currency": "USD",
                    },
                    "stock": 5 if kind == "physical" else None,
                    "attributes": attributes,
                }
            )
        )
    return out


# ------------------------------------------------------------------ rulesets


def maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    return draw(strategy) if draw(st.booleans()) else None


@st.composite
def destination_condition_st(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    countries = maybe(draw, st.lists(st.sampled_from(COUNTRY_ENTRIES), min_size=1, max_size=3))
    if countries:
        out["countries"] = countries
    if draw(st.integers(0, 3)) == 0:
        out["subdivisions"] = draw(st.lists(st.sampled_from(SUBDIVISIONS), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        postal: dict[str, Any] = {}
        postal["ranges"] = draw(st.lists(st.sampled_from(RANGES), max_size=2))
        postal["patterns"] = draw(
            st.lists(st.sampled_from(PATTERNS), min_size=0 if postal["ranges"] else 1, max_size=2)
        )
        out["postal_codes"] = postal
    if draw(st.integers(0, 3)) == 0:
        out["po_box"] = draw(st.booleans())
    return out


ATTRIBUTE_TESTS = st.sampled_from(
    [
        {"name": "strength"},
        {"name": "strength", "op": "eq", "value": 5},
        {"name": "strength", "op": "eq", "value": "5"},
        {"name": "strength", "op": "ne", "value": 5},
        {"name": "strength", "op": "in", "value": [1, 30, "abc"]},
        {"name": "strength", "op": "gt", "value": 4},
        {"name": "strength", "op": "le", "value": "2.5"},
        {"name": "supply_days", "op": "ge", "value": 60},
        {"name": "supply_days", "op": "eq", "value": 30},
        {"name": "supply_days", "op": "lt", "value": 90},
        {"name": "supply_days"},
    ]
)
INGREDIENT_TESTS = st.sampled_from(
    [
        {"any_of": ["melatonin"]},
        {"any_of": ["melatonin", "dhea"]},
        {"any_of": ["vitamin_d3"], "op": "gt", "value": 1000, "unit": "IU"},
        {"any_of": ["calcium", "vitamin_d3"], "op": "ge", "value": 1, "unit": "mg"},
        {"any_of": ["calcium"], "op": "le", "value": 500, "unit": "mg"},
        {"any_of": ["melatonin"], "op": "eq", "value": "0.25", "unit": "mg"},
        {"any_of": ["dhea"], "op": "lt", "value": 1, "unit": "g"},
    ]
)


@st.composite
def product_condition_st(draw: st.DrawFn, skus: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        out["kinds"] = draw(st.sampled_from([["physical"], ["digital"], ["physical", "digital"]]))
    if draw(st.integers(0, 2)) == 0:
        out["categories"] = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        out["skus"] = draw(st.lists(st.sampled_from([*skus, "OTHER-1"]), min_size=1, max_size=2))
    if draw(st.integers(0, 2)) == 0:
        out["attributes"] = draw(st.lists(ATTRIBUTE_TESTS, min_size=1, max_size=2))
    if draw(st.integers(0, 2)) == 0:
        out["ingredients"] = draw(st.lists(INGREDIENT_TESTS, min_size=1, max_size=2))
    return out


MONEY = st.sampled_from([0, 595, 1495, 1995, 3995]).map(lambda a: {"amount": a, "currency": "USD"})


@st.composite
def rule_st(draw: st.DrawFn, index: int, skus: list[str]) -> dict[str, Any]:
    effect = draw(
        st.sampled_from(
            [
                "permit",
                "permit",
                "forbid",
                "limit",
                "default",
                "offer_method",
                "restrict_method",
                "surcharge",
            ]
        )
    )
    when: dict[str, Any] = {"destination": draw(destination_condition_st())}
    if effect not in ("offer_method", "surcharge"):
        when["product"] = draw(product_condition_st(skus))
    out: dict[str, Any] = {
        "id": f"r{index:02d}-{effect.replace('_', '-')}",
        "effect": effect,
        "when": when,
        "code": f"c_{effect}",
        "message": draw(st.sampled_from(MESSAGES)),
        "source": "test",
    }
    if effect == "limit":
        if draw(st.booleans()):
            out["max_quantity"] = draw(st.integers(0, 4))
        else:
            out["max_supply_days"] = draw(st.sampled_from([30, 60, 90]))
    elif effect == "offer_method":
        out["method"] = draw(st.sampled_from(["standard", "express"]))
        out["price"] = draw(MONEY)
        if draw(st.booleans()):
            out["free_from"] = {"amount": draw(st.sampled_from([1000, 7500])), "currency": "USD"}
    elif effect in ("restrict_method", "surcharge"):
        out["method"] = draw(st.sampled_from(["standard", "express"]))
        if effect == "surcharge":
            out["amount"] = draw(MONEY)
    start = maybe(draw, st.sampled_from(BOUNDS[:2]))
    end = maybe(draw, st.sampled_from(BOUNDS[2:]))
    if start:
        out["effective_from"] = start
    if end:
        out["effective_until"] = end
    return out


@st.composite
def ruleset_st(draw: st.DrawFn, skus: list[str]) -> Ruleset:
    n = draw(st.integers(0, 10))
    rules = [draw(rule_st(i, skus)) for i in range(n)]
    return Ruleset.model_validate(
        {
            "groups": GROUPS,
            "methods": {"standard": {"name": "Standard"}, "express": {"name": "Express"}},
            # Declared or not (`ingredients:` is optional)
            "ingredients": draw(st.sampled_from([INGREDIENTS, []])),
            "rules": rules,
        }
    )


# ------------------------------------------------------------------ destinations

POSTAL_CODES = {
    "US": ["99501", "96815-1234", "12345", "00601", "1234", "ABCDE"],
    "PR": ["00601", "00725-1234", "12345"],
    "CA": ["H2X 1Y4", "h2x1y4", "K1A 0B1"],
    "UA": ["83001", "95000", "99000", "295010", "01001", "1234567"],
    "AU": ["2000", "3000", "20000"],
    "JP": ["100-0001", "1000001"],
    "DE": ["10115", "1011"],
    "GB": ["SW1A 1AA", "SW1A1AA", "EC1A 1BB"],
    "IE": ["D02 X285"],
}
SUBDIVISIONS_OF = {
    "US": ["US-HI", "US-AK", "US-AA", "US-CA"],
    "UA": ["UA-43", "UA-14", "UA-30"],
    "CA": ["CA-QC", "CA-ON"],
    "AU": ["AU-NSW"],
}
LINE1 = [None, "1 Main St", "PO Box 12", "P.O. Box 7", "Post Office Box 3", "Unit 5, Pobox Rd"]


@st.composite
def destination_st(draw: st.DrawFn) -> Destination:
    country = draw(st.sampled_from([*POSTAL_CODES, "CU"]))
    return Destination(
        country=country,
        subdivision=maybe(draw, st.sampled_from(SUBDIVISIONS_OF.get(country, ["XX-1"]))),
        postal_code=maybe(draw, st.sampled_from(POSTAL_CODES.get(country, ["12345"]))),
        line1=draw(st.sampled_from(LINE1)),
    )


@st.composite
def case_st(draw: st.DrawFn) -> tuple[Ruleset, list[tuple[Product, int]], Destination, datetime]:
    products = draw(products_st())
    ruleset = draw(ruleset_st([p.sku for p in products]))
    lines = draw(
        st.lists(st.tuples(st.sampled_from(products), st.integers(1, 5)), min_size=0, max_size=5)
    )
    return ruleset, lines, draw(destination_st()), draw(st.sampled_from(DATES))


# ------------------------------------------------------------------ comparing


def engine_view(decision: CartDecision) -> reference.RefDecision:
    return reference.RefDecision(
        decision.eligible,
        tuple(
            reference.RefLine(
                i.sku,
                i.quantity,
                i.eligible,
                i.max_quantity,
                tuple(reference.RefReason(r.rule_id, r.code, r.message) for r in i.reasons),
            )
            for i in decision.items
        ),
        tuple(
            reference.RefMethod(m.id, m.name, m.price.amount, m.price.currency)
            for m in decision.shipping_methods
        ),
    )


def assert_agree(
    ruleset: Ruleset, lines: list[tuple[Product, int]], dest: Destination, at: datetime
) -> None:
    expected = reference.decide(ruleset, lines, dest, at)
    cart = [CartLine(p, q) for p, q in lines]
    memo_off = Engine(ruleset, memo_size=0)
    assert engine_view(memo_off.decide(cart, dest, at)) == expected
    warm = Engine(ruleset)
    warm.decide(cart, dest, at)
    assert engine_view(warm.decide(cart, dest, at)) == expected


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case_st())
def test_engine_agrees_with_the_reference_evaluator(case: Any) -> None:
    assert_agree(*case)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case_st(), st.permutations(DATES))
def test_one_engine_agrees_with_the_reference_at_every_instant(
    case: Any, instants: list[datetime]
) -> None:
    """One engine across effective windows, as a long-lived Lambda is: what it keeps per
    time bucket (the index groups' views, the memo's lines) must follow each instant."""
    ruleset, lines, dest, _ = case
    cart = [CartLine(p, q) for p, q in lines]
    memo_off, warm = Engine(ruleset, memo_size=0), Engine(ruleset)
    for at in [*instants, *instants]:
        expected = reference.decide(ruleset, lines, dest, at)
        assert engine_view(memo_off.decide(cart, dest, at)) == expected, at
        assert engine_view(warm.decide(cart, dest, at)) == expected, at


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    case_st(),
    st.lists(
        st.tuples(st.lists(st.integers(0, 3), max_size=4), destination_st()),
        min_size=2,
        max_size=6,
    ),
)
def test_one_engine_agrees_with_the_reference_over_many_carts(
    case: Any, requests: list[tuple[list[int], Destination]]
) -> None:
    """One engine, memo off, deciding carts of different products of one class for other
    destinations in turn, as a running Lambda does: what the index keeps per product class
    and country (rules/index.py ClassPlan) must not carry one product's reasons, limits or
    message values to another's line."""
    ruleset, lines, _, at = case
    products = list({p.sku: p for p, _ in lines}.values())
    if not products:
        return
    memo_off = Engine(ruleset, memo_size=0)
    for picks, dest in requests:
        chosen = [(products[i % len(products)], 1 + i) for i in picks]
        expected = reference.decide(ruleset, chosen, dest, at)
        cart = [CartLine(p, q) for p, q in chosen]
        assert engine_view(memo_off.decide(cart, dest, at)) == expected, (picks, dest)
