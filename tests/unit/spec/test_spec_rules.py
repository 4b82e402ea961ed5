"""The rules engine, pinned through its public surface only.

`default_engine()`, `Engine(ruleset).decide / availability / allowed_countries`, and
rulesets loaded from YAML text with `load_ruleset`: these tests do not reach into the
engine's parts, so they hold across its refactor. Each test is named for the clause of
docs/rules.md or shared/shipping-policy.md it pins.
"""

from __future__ import annotations

import pickle
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bonestore.domain.catalog import Product, seed_catalog
from bonestore.domain.geo import Destination
from bonestore.domain.rules import (
    CartLine,
    Engine,
    Ruleset,
    RulesetError,
    default_engine,
    load_ruleset,
)
from bonestore.domain.rules import conditions as rules_conditions
from bonestore.domain.rules.conditions import compare, compile_rule
from bonestore.domain.rules.loader import Issue, parse_ruleset

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SEED = {p.sku: p for p in seed_catalog()}
US_NY = Destination(country="US", subdivision="US-NY", postal_code="10001", line1="1 Main St")


def product(
    sku: str = "TEST-1", kind: str = "physical", category: str = "book", **attributes: Any
) -> Product:
    return Product.model_validate(
        {
            "sku": sku,
            "name": f"Product {sku}",
            "kind": kind,
            "category": category,
            "price": {
                "amount": attributes.pop("price", 1000),
                "currency": attributes.pop("currency", "USD"),
            },
            "stock": 10 if kind == "physical" else None,
            "attributes": attributes,
        }
    )


HEADER = """\
schema_version: 1
groups:
  NORTH: [CA, "NO"]
methods:
  standard: {name: Standard shipping}
  express: {name: Express shipping}
rules:
  - {id: permit-all, effect: permit, code: ok, message: ok, source: test}
"""


def engine(tmp_path: Path, rules: str, header: str = HEADER) -> Engine:
    path = tmp_path / "ruleset.yaml"
    path.write_text(header + textwrap.indent(textwrap.dedent(rules), "  "), encoding="utf-8")
    return Engine(load_ruleset(path))


def line(
    eng: Engine, item: Product, dest: Destination = US_NY, qty: int = 1, at: datetime = NOW
) -> Any:
    return eng.decide([CartLine(item, qty)], dest, at).items[0]


def ids(decision_line: Any) -> list[str]:
    return [r.rule_id for r in decision_line.reasons]


def methods(
    eng: Engine, lines: list[CartLine], dest: Destination = US_NY, at: datetime = NOW
) -> dict[str, int]:
    return {m.id: m.price.amount for m in eng.decide(lines, dest, at).shipping_methods}


def refused(tmp_path: Path, rules: str) -> str:
    with pytest.raises(RulesetError) as info:
        engine(tmp_path, rules)
    assert info.value.code == "invalid_ruleset"
    return str(info.value)


# ====================================================================== the shipping policy
# (the default ruleset, through default_engine())


def cart(*skus_qty: tuple[str, int]) -> list[CartLine]:
    return [CartLine(SEED[sku], qty) for sku, qty in skus_qty]


def standard_us(lines: list[CartLine], dest: Destination = US_NY) -> int | None:
    return methods(default_engine(), lines, dest).get("standard")


def test_policy_standard_us_is_595_below_75_dollars_of_goods() -> None:
    assert standard_us(cart(("TRUEOSTEO-120", 1))) == 595
    assert standard_us(cart(("D3K2-60", 1), ("DENSERCISE-DVD", 1))) == 595  # 64.90


def test_policy_free_standard_us_counts_every_physical_line_toward_75_dollars() -> None:
    # 49.95 + 29.95 = 79.90: neither line alone reaches 75.00, together they do.
    assert standard_us(cart(("TRUEOSTEO-120", 1), ("BONE-APPETIT-BOOK", 1))) == 0
    # Quantities count: 2 x 39.95.
    assert standard_us(cart(("DENSERCISE-DVD", 2))) == 0
    # The same product on two lines counts twice.
    assert standard_us(cart(("DENSERCISE-DVD", 1), ("DENSERCISE-DVD", 1))) == 0


def test_policy_digital_goods_do_not_count_toward_free_shipping() -> None:
    assert standard_us(cart(("D3K2-60", 1), ("ORP-EBOOK", 1))) == 595


def test_policy_free_from_75_dollars_is_reached_at_exactly_75_dollars(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: standard-us
          effect: offer_method
          method: standard
          price: {amount: 595, currency: USD}
          free_from: {amount: 7500, currency: USD}
          when: {destination: {countries: [US]}}
          code: cm
          message: m
          source: test
        """,
    )
    at_75 = [CartLine(product("AA-1", price=5000), 1), CartLine(product("BB-1", price=2500), 1)]
    below = [CartLine(product("AA-1", price=5000), 1), CartLine(product("BB-1", price=2499), 1)]
    assert methods(eng, at_75) == {"standard": 0}
    assert methods(eng, below) == {"standard": 595}
    # A cart priced in another currency never reaches a USD threshold.
    eur = [CartLine(product("EE-1", price=900000, currency="EUR"), 1)]
    assert methods(eng, eur) == {"standard": 595}
    mixed = [
        CartLine(product("AA-1", price=9000), 1),
        CartLine(product("EE-1", price=1, currency="EUR"), 1),
    ]
    assert methods(eng, mixed) == {"standard": 595}


def test_policy_prices_of_standard_and_express() -> None:
    one = cart(("TRUEOSTEO-120", 1))
    assert methods(default_engine(), one) == {"standard": 595, "express": 1995}
    assert methods(default_engine(), one, Destination(country="CA")) == {
        "standard": 1495,
        "express": 3995,
    }
    assert methods(default_engine(), one, Destination(country="NZ")) == {"standard": 1495}


@pytest.mark.parametrize("sub", ["US-AK", "US-HI", "US-PR"])
def test_policy_express_costs_20_dollars_more_to_ak_hi_pr(sub: str) -> None:
    dest = Destination(country="US", subdivision=sub)
    assert methods(default_engine(), cart(("TRUEOSTEO-120", 1)), dest)["express"] == 3995


def test_policy_express_to_puerto_rico_as_a_country_costs_the_same_surcharge() -> None:
    dest = Destination(country="PR", postal_code="00901")
    assert methods(default_engine(), cart(("TRUEOSTEO-120", 1)), dest)["express"] == 3995


@pytest.mark.parametrize("sub", ["US-AA", "US-AE", "US-AP"])
def test_policy_no_express_to_military_addresses(sub: str) -> None:
    dest = Destination(country="US", subdivision=sub)
    assert methods(default_engine(), cart(("TRUEOSTEO-120", 1)), dest) == {"standard": 595}
    assert line(default_engine(), SEED["TRUEOSTEO-120"], dest).eligible


@pytest.mark.parametrize("line1", ["PO Box 12", "P.O. Box 3", "Post Office Box 9"])
def test_policy_no_express_to_po_boxes(line1: str) -> None:
    dest = Destination(country="US", subdivision="US-NY", line1=line1)
    assert methods(default_engine(), cart(("TRUEOSTEO-120", 1)), dest) == {"standard": 595}


def test_policy_no_methods_for_a_digital_only_cart() -> None:
    assert methods(default_engine(), cart(("ORP-EBOOK", 1))) == {}


def test_policy_canada_no_supplements_since_2013_06_01_books_still_ship() -> None:
    ca = Destination(country="CA")
    decided = line(default_engine(), SEED["TRUEOSTEO-120"], ca)
    assert not decided.eligible and ids(decided) == ["ca-no-supplements-npn"]
    assert line(default_engine(), SEED["BONE-APPETIT-BOOK"], ca).eligible
    assert line(default_engine(), SEED["ORP-EBOOK"], ca).eligible
    before = datetime(2013, 5, 31, 23, 59, 59, tzinfo=UTC)
    assert line(default_engine(), SEED["TRUEOSTEO-120"], ca, at=before).eligible
    assert not line(
        default_engine(), SEED["TRUEOSTEO-120"], ca, at=datetime(2013, 6, 1, tzinfo=UTC)
    ).eligible


def test_policy_australia_three_months_supply_per_product() -> None:
    au = Destination(country="AU")
    # D3K2-60 is 5,000 IU of D3 (over 1,000): refused outright; use a 30-day product.
    item = product(
        "CALCIUM-30",
        category="supplement",
        supply_days=30,
        ingredients={"calcium": {"amount": 500, "unit": "mg"}},
    )
    assert line(default_engine(), item, au, qty=3).eligible
    over = line(default_engine(), item, au, qty=4)
    assert not over.eligible and over.max_quantity == 3
    assert ids(over) == ["au-three-months-supply"]
    assert over.reasons[0].message.count("3") >= 1


def test_policy_japan_two_months_supply_per_product() -> None:
    jp = Destination(country="JP")
    assert line(default_engine(), SEED["TRUEOSTEO-120"], jp, qty=2).eligible
    over = line(default_engine(), SEED["TRUEOSTEO-120"], jp, qty=3)
    assert not over.eligible and over.max_quantity == 2


def test_policy_a_limit_counts_a_product_across_its_lines() -> None:
    jp = Destination(country="JP")
    decision = default_engine().decide(cart(("TRUEOSTEO-120", 1), ("TRUEOSTEO-120", 2)), jp, NOW)
    assert [i.eligible for i in decision.items] == [False, False]
    assert [i.quantity for i in decision.items] == [1, 2]
    assert not decision.eligible


@pytest.mark.parametrize("country", ["AU", "GB", "FR", "NZ", "BR"])
def test_policy_nothing_with_melatonin_to_au_gb_eu_nz_br(country: str) -> None:
    assert not line(default_engine(), SEED["RESTWELL-60"], Destination(country=country)).eligible


@pytest.mark.parametrize("country", ["MX", "IN"])
def test_policy_no_supplements_to_mexico_or_india(country: str) -> None:
    dest = Destination(country=country)
    assert not line(default_engine(), SEED["TRUEOSTEO-120"], dest).eligible
    assert line(default_engine(), SEED["BONE-APPETIT-BOOK"], dest).eligible


@pytest.mark.parametrize("country", ["CU", "IR", "KP"])
def test_policy_embargoes_refuse_everything_digital_included(country: str) -> None:
    dest = Destination(country=country)
    decision = default_engine().decide(cart(("ORP-EBOOK", 1), ("BONE-APPETIT-BOOK", 1)), dest, NOW)
    assert [i.eligible for i in decision.items] == [False, False]


@pytest.mark.parametrize(
    ("dest", "embargoed"),
    [
        (Destination(country="UA", subdivision="UA-43"), True),
        (Destination(country="UA", postal_code="83000"), True),
        (Destination(country="UA", postal_code="87999"), True),
        (Destination(country="UA", postal_code="91000"), True),
        (Destination(country="UA", postal_code="99999"), True),
        (Destination(country="UA", postal_code="295000"), True),
        (Destination(country="UA", postal_code="82999"), False),
        (Destination(country="UA", postal_code="88000"), False),
        (Destination(country="UA", postal_code="01001"), False),
        (Destination(country="UA", subdivision="UA-30"), False),
    ],
)
def test_policy_occupied_ukrainian_regions_by_subdivision_or_postal_code(
    dest: Destination, embargoed: bool
) -> None:
    assert line(default_engine(), SEED["ORP-EBOOK"], dest).eligible is not embargoed


def test_policy_syria_embargo_ended_on_2025_07_01() -> None:
    sy = Destination(country="SY")
    assert not line(
        default_engine(), SEED["ORP-EBOOK"], sy, at=datetime(2025, 6, 30, 23, 59, tzinfo=UTC)
    ).eligible
    assert line(
        default_engine(), SEED["ORP-EBOOK"], sy, at=datetime(2025, 7, 1, tzinfo=UTC)
    ).eligible


def test_policy_physical_goods_nowhere_else_with_the_countrys_name() -> None:
    decided = line(default_engine(), SEED["BONE-APPETIT-BOOK"], Destination(country="AR"))
    assert not decided.eligible
    assert "Argentina" in decided.reasons[0].message
    assert line(default_engine(), SEED["ORP-EBOOK"], Destination(country="AR")).eligible


@pytest.mark.parametrize("country", ["RU", "BY"])
def test_policy_no_physical_shipments_to_russia_or_belarus(country: str) -> None:
    assert not line(
        default_engine(), SEED["BONE-APPETIT-BOOK"], Destination(country=country)
    ).eligible


def test_policy_availability_is_the_contracts_shape() -> None:
    assert default_engine().availability(SEED["TRUEOSTEO-120"], "ca", NOW) == {
        "country": "CA",
        "eligible": False,
        "max_quantity": None,
        "reasons": [
            r.as_json()
            for r in line(
                default_engine(), SEED["TRUEOSTEO-120"], Destination(country="CA")
            ).reasons
        ],
    }
    jp = default_engine().availability(SEED["TRUEOSTEO-120"], "JP", NOW)
    assert jp["eligible"] is True and jp["max_quantity"] == 2 and jp["reasons"] == []


def test_policy_allowed_countries_are_decided_on_the_country_alone() -> None:
    supplement = default_engine().allowed_countries(cart(("TRUEOSTEO-120", 1)), NOW)
    assert "US" in supplement and "JP" in supplement and "PR" in supplement
    assert "CA" not in supplement and "MX" not in supplement and "RU" not in supplement
    book = default_engine().allowed_countries(cart(("BONE-APPETIT-BOOK", 1)), NOW)
    assert "CA" in book and "AR" not in book
    # UA is allowed for a digital cart: the embargoed regions need the address to bite.
    assert "UA" in default_engine().allowed_countries(cart(("ORP-EBOOK", 1)), NOW)
    assert supplement == sorted(supplement)


def test_policy_every_decision_carries_the_ruleset_version_and_the_instant() -> None:
    decision = default_engine().decide(cart(("ORP-EBOOK", 1)), US_NY, NOW)
    assert decision.ruleset_version == default_engine().version
    assert decision.ruleset_version.startswith("rs-") and len(decision.ruleset_version) == 15
    body = decision.to_json()
    assert body["evaluated_at"] == "2026-06-01T00:00:00Z"
    assert body["destination"] == US_NY.as_json()
    assert body["items"][0] == {
        "sku": "ORP-EBOOK",
        "quantity": 1,
        "eligible": True,
        "max_quantity": None,
        "reasons": [],
    }


# ====================================================================== docs/rules.md semantics


def test_default_deny_names_the_product_and_country(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        "",
        header=HEADER.replace(
            "  - {id: permit-all, effect: permit, code: ok, message: ok, source: test}\n",
            "  - {id: f-jp, effect: forbid, code: cf, message: f, source: t, when: {destination: {countries: [JP]}}}\n",
        ),
    )
    decided = line(eng, product("BOOK-1"))
    assert not decided.eligible
    assert [(r.rule_id, r.code) for r in decided.reasons] == [("default-deny", "not_permitted")]
    assert decided.reasons[0].message == "Nothing permits shipping Product BOOK-1 to United States."


def test_a_default_rule_gives_the_reason_when_nothing_permits(tmp_path: Path) -> None:
    no_permit = HEADER.replace(
        "  - {id: permit-all, effect: permit, code: ok, message: ok, source: test}\n", ""
    )
    eng = engine(
        tmp_path,
        """
        - {id: z-default, effect: default, code: not_here, message: "Not to {country}.", source: t}
        - {id: a-default, effect: default, code: not_here, message: "No {product_name}.", source: t}
        """,
        header=no_permit,
    )
    decided = line(eng, product("BOOK-1"))
    assert ids(decided) == ["a-default", "z-default"]
    assert [r.message for r in decided.reasons] == ["No Product BOOK-1.", "Not to US."]


def test_forbid_overrides_permit_and_reasons_are_sorted_by_rule_id(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - {id: zz-forbid, effect: forbid, code: cf, message: "{sku} not to {country_name}", source: t}
        - {id: aa-forbid, effect: forbid, code: cf, message: f, source: t}
        """,
    )
    decided = line(eng, product("BOOK-1"))
    assert not decided.eligible
    assert ids(decided) == ["aa-forbid", "zz-forbid"]
    assert decided.reasons[1].message == "BOOK-1 not to United States"


def test_a_second_product_condition_must_also_hold(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-supplement-physical
          effect: forbid
          when: {product: {categories: [supplement], kinds: [digital]}}
          code: cf
          message: f
          source: t
        - id: f-two-attributes
          effect: forbid
          when: {product: {categories: [book], attributes: [{name: binding, op: eq, value: paper}, {name: pages, op: gt, value: 100}]}}
          code: cf
          message: f
          source: t
        - id: f-two-ingredients
          effect: forbid
          when:
            product:
              ingredients:
                - {any_of: [calcium]}
                - {any_of: [melatonin]}
          code: cf
          message: f
          source: t
        - id: f-sku-and-category
          effect: forbid
          when: {product: {skus: [BOOK-9], categories: [media]}}
          code: cf
          message: f
          source: t
        """,
    )
    supplement = product(
        "SUP-1", category="supplement", supply_days=30, ingredients={"calcium": {}}
    )
    assert line(eng, supplement).eligible  # physical, not digital
    assert line(eng, product("BOOK-1", binding="paper", pages=90)).eligible
    assert ids(line(eng, product("BOOK-2", binding="paper", pages=101))) == ["f-two-attributes"]
    both = product(
        "SUP-2", category="supplement", supply_days=30, ingredients={"calcium": {}, "melatonin": {}}
    )
    assert ids(line(eng, both)) == ["f-two-ingredients"]
    assert line(eng, product("BOOK-9", binding="cloth")).eligible  # a book, not media


def test_a_destination_condition_needs_every_field_given(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-ny-po-box
          effect: forbid
          when: {destination: {countries: [US], subdivisions: [US-NY], po_box: true}}
          code: cf
          message: f
          source: t
        - id: f-north
          effect: forbid
          when: {destination: {countries: [NORTH]}}
          code: cf
          message: f
          source: t
        """,
    )
    item = product()
    assert line(eng, item, Destination(country="US", subdivision="US-NY", line1="1 Main")).eligible
    assert line(
        eng, item, Destination(country="US", subdivision="US-CA", line1="PO Box 1")
    ).eligible
    assert ids(
        line(eng, item, Destination(country="US", subdivision="US-NY", line1="PO Box 1"))
    ) == ["f-ny-po-box"]
    assert not line(eng, item, Destination(country="NO")).eligible  # a group lists it
    assert line(eng, item, Destination(country="SE")).eligible


@pytest.mark.parametrize(
    ("op", "value", "matches"),
    [
        ("eq", "paper", True), ("eq", "cloth", False),
        ("ne", "cloth", True), ("ne", "paper", False),
        ("in", ["cloth", "paper"], True), ("in", ["cloth"], False),
    ],
)  # fmt: skip
def test_attribute_operators_on_text(tmp_path: Path, op: str, value: Any, matches: bool) -> None:
    eng = engine(
        tmp_path,
        f"""
        - id: f-binding
          effect: forbid
          when: {{product: {{attributes: [{{name: binding, op: {op}, value: {value!r}}}]}}}}
          code: cf
          message: f
          source: t
        """.replace("'", '"'),
    )
    assert line(eng, product(binding="paper")).eligible is not matches


@pytest.mark.parametrize(
    ("op", "value", "matches"),
    [
        ("gt", 30, False), ("gt", 29, True), ("ge", 30, True), ("ge", 31, False),
        ("lt", 30, False), ("lt", 31, True), ("le", 30, True), ("le", 29, False),
        ("eq", 30, True), ("ne", 30, False), ("ne", 60, True), ("in", [30, 60], True),
    ],
)  # fmt: skip
def test_attribute_operators_on_numbers(
    tmp_path: Path, op: str, value: Any, matches: bool, shipped: Callable[[Engine], Engine]
) -> None:
    """Also in the engine Lambda loads (unpickled: its operator names are not this code's
    literals, so an identity test on them would decide differently there)."""
    eng = shipped(
        engine(
            tmp_path,
            f"""
        - id: f-days
          effect: forbid
          when: {{product: {{attributes: [{{name: supply_days, op: {op}, value: {value}}}]}}}}
          code: cf
          message: f
          source: t
        """,
        )
    )
    item = product("SUP-1", category="supplement", supply_days=30)
    assert line(eng, item).eligible is not matches


@pytest.mark.parametrize(("value", "matches"), [("2.5", True), ("2.4", False)])
def test_a_numeric_attribute_stored_as_text_compares_as_a_number(
    tmp_path: Path, value: str, matches: bool
) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-weight
          effect: forbid
          when: {product: {attributes: [{name: weight_kg, op: ge, value: 2.5}]}}
          code: cf
          message: f
          source: t
        """,
    )
    assert line(eng, product(weight_kg=value)).eligible is not matches


def test_attribute_exists(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-fragile
          effect: forbid
          when: {product: {attributes: [{name: fragile, op: exists}]}}
          code: cf
          message: f
          source: t
        """,
    )
    assert not line(eng, product(fragile=False)).eligible
    assert line(eng, product()).eligible


@pytest.mark.parametrize(
    "attributes",
    [
        {"weight_kg": "heavy"},  # text that is not a number
        {"weight_kg": True},  # a flag
        {},  # missing
    ],
)
def test_a_rule_comparing_values_it_cannot_compare_fails_closed(
    tmp_path: Path, attributes: dict[str, Any]
) -> None:
    eng = engine(
        tmp_path,
        """
        - id: permit-light
          effect: permit
          when: {product: {attributes: [{name: weight_kg, op: lt, value: 5}]}}
          code: cp
          message: p
          source: t
        """,
        header=HEADER.replace(
            "  - {id: permit-all, effect: permit, code: ok, message: ok, source: test}\n", ""
        ),
    )
    decided = line(eng, product(**attributes))
    assert not decided.eligible
    assert [(r.rule_id, r.code) for r in decided.reasons] == [("permit-light", "rule_error")]
    assert decided.reasons[0].message == (
        "We can't confirm that Product TEST-1 may ship to United States right now; please contact support."
    )


def test_a_definitely_false_condition_wins_over_one_that_errors(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-au-heavy
          effect: forbid
          when:
            destination: {postal_codes: {ranges: [{from: "2000", to: "2999"}]}}
            product: {attributes: [{name: weight_kg, op: gt, value: 5}]}
          code: cf
          message: f
          source: t
        """,
    )
    item = product()  # no weight_kg: the attribute test errors
    assert line(eng, item, Destination(country="AU", postal_code="3000")).eligible
    assert ids(line(eng, item, Destination(country="AU", postal_code="2000"))) == ["f-au-heavy"]
    assert line(eng, item, Destination(country="AU")).eligible  # no postal code: no match


@pytest.mark.parametrize(
    ("stated", "test", "matches"),
    [
        ({"amount": 1000, "unit": "mg"}, "op: gt, value: 0.9, unit: g", True),
        ({"amount": 1000, "unit": "mg"}, "op: ge, value: 1, unit: g", True),
        ({"amount": 1000, "unit": "mg"}, "op: gt, value: 1, unit: g", False),
        ({"amount": "1.2", "unit": "g"}, "op: ge, value: 1200, unit: mg", True),
        ({"amount": "1.2", "unit": "g"}, "op: gt, value: 1200, unit: mg", False),
        ({"amount": 500, "unit": "mcg"}, "op: lt, value: 1, unit: mg", True),
        ({"amount": 500, "unit": "mcg"}, "op: eq, value: 0.5, unit: mg", True),
        ({"amount": 500, "unit": "mcg"}, "op: le, value: 0.4, unit: mg", False),
        ({"amount": 2, "unit": "g"}, "op: eq, value: 2000000, unit: mcg", True),
        ({"amount": 800, "unit": "IU"}, "op: gt, value: 1000, unit: IU", False),
        ({"amount": 5000, "unit": "IU"}, "op: gt, value: 1000, unit: IU", True),
    ],
)
def test_ingredient_amounts_convert_between_g_mg_and_mcg(
    tmp_path: Path, stated: dict[str, Any], test: str, matches: bool
) -> None:
    eng = engine(
        tmp_path,
        f"""
        - id: f-dose
          effect: forbid
          when: {{product: {{ingredients: [{{any_of: [calcium], {test}}}]}}}}
          code: cf
          message: f
          source: t
        """,
    )
    item = product("SUP-1", category="supplement", supply_days=30, ingredients={"calcium": stated})
    assert line(eng, item).eligible is not matches


@pytest.mark.parametrize(
    "stated",
    [{"amount": 800, "unit": "IU"}, {}, {"unit": "mg"}],
    ids=["IU-vs-mg", "amount-unknown", "amount-missing"],
)
def test_an_ingredient_amount_that_cannot_be_compared_fails_closed(
    tmp_path: Path, stated: dict[str, Any]
) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-dose
          effect: forbid
          when: {product: {ingredients: [{any_of: [calcium], op: gt, value: 10, unit: mg}]}}
          code: cf
          message: f
          source: t
        """,
    )
    item = product("SUP-1", category="supplement", supply_days=30, ingredients={"calcium": stated})
    decided = line(eng, item)
    assert [(r.rule_id, r.code) for r in decided.reasons] == [("f-dose", "rule_error")]


def test_any_of_matches_when_one_listed_ingredient_does_even_if_another_errors(
    tmp_path: Path,
) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-vitamin-d
          effect: forbid
          when: {product: {ingredients: [{any_of: [vitamin_d2, vitamin_d3], op: gt, value: 1000, unit: IU}]}}
          code: cf
          message: f
          source: t
        """,
    )
    item = product(
        "SUP-1", category="supplement", supply_days=30,
        ingredients={"vitamin_d2": {}, "vitamin_d3": {"amount": 5000, "unit": "IU"}},
    )  # fmt: skip
    assert [(r.rule_id, r.code) for r in line(eng, item).reasons] == [("f-vitamin-d", "cf")]
    # The first listed ingredient's amount cannot be compared (a unit and no amount; an
    # amount and no unit; another kind of unit): the second still decides.
    for first in ({"unit": "IU"}, {"amount": 800}, {"amount": 800, "unit": "mg"}):
        item = product(
            "SUP-4", category="supplement", supply_days=30,
            ingredients={"vitamin_d2": first, "vitamin_d3": {"amount": 5000, "unit": "IU"}},
        )  # fmt: skip
        assert [(r.rule_id, r.code) for r in line(eng, item).reasons] == [("f-vitamin-d", "cf")]
    low = product(
        "SUP-2", category="supplement", supply_days=30,
        ingredients={"vitamin_d2": {"amount": 10, "unit": "IU"}, "vitamin_d3": {"amount": 400, "unit": "IU"}},
    )  # fmt: skip
    assert line(eng, low).eligible
    absent = product("SUP-3", category="supplement", supply_days=30, ingredients={"calcium": {}})
    assert line(eng, absent).eligible


def test_limits_max_quantity_and_max_supply_days_smallest_wins(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - {id: limit-five, effect: limit, max_quantity: 5, code: cl, message: "at most {max_quantity}", source: t}
        - {id: limit-ninety-days, effect: limit, max_supply_days: 90, code: cl, message: "at most {max_quantity} of {sku}", source: t}
        """,
    )
    item = product("SUP-1", category="supplement", supply_days=30)  # 90 days -> 3 units
    assert line(eng, item, qty=3).eligible and line(eng, item, qty=3).max_quantity == 3
    over = line(eng, item, qty=4)
    assert not over.eligible and over.max_quantity == 3
    assert [(r.rule_id, r.message) for r in over.reasons] == [
        ("limit-ninety-days", "at most 3 of SUP-1")
    ]
    far = line(eng, item, qty=6)
    assert [(r.rule_id, r.message) for r in far.reasons] == [
        ("limit-ninety-days", "at most 3 of SUP-1"),
        ("limit-five", "at most 5"),
    ]
    assert (
        line(eng, product("SUP-2", category="supplement", supply_days=31), qty=2).max_quantity == 2
    )
    assert line(eng, product("SUP-3", category="supplement", supply_days=91)).max_quantity == 0
    assert not line(eng, product("SUP-3", category="supplement", supply_days=91)).eligible


def test_a_quantity_equal_to_a_limit_does_not_exceed_it(tmp_path: Path) -> None:
    """docs/rules.md 6: a line above its maximum names the limits it exceeds, and only those:
    5 units exceed the 3-unit limit but not the 5-unit one."""
    eng = engine(
        tmp_path,
        """
        - {id: limit-five, effect: limit, max_quantity: 5, code: cl, message: "at most {max_quantity}", source: t}
        - {id: limit-three, effect: limit, max_quantity: 3, code: cl, message: "at most {max_quantity}", source: t}
        """,
    )
    at_five = line(eng, product(), qty=5)
    assert not at_five.eligible and at_five.max_quantity == 3
    assert ids(at_five) == ["limit-three"]


def test_a_reason_handed_out_cannot_be_changed() -> None:
    """Decisions share their reasons (the memo hands the same one to every cart): a caller
    editing one would rewrite every later decision's words."""
    decided = line(default_engine(), SEED["TRUEOSTEO-120"], Destination(country="CA"))
    reason = decided.reasons[0]
    with pytest.raises(AttributeError):
        reason.message = "anything"  # type: ignore[misc]
    again = line(default_engine(), SEED["TRUEOSTEO-120"], Destination(country="CA"))
    assert again.reasons[0].message == reason.message != "anything"


def test_a_days_supply_limit_on_a_product_without_supply_days_fails_closed(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        "- {id: limit-days, effect: limit, max_supply_days: 90, code: cl, message: l, source: t}\n",
    )
    decided = line(eng, product("BOOK-1"))
    assert [(r.rule_id, r.code) for r in decided.reasons] == [("limit-days", "rule_error")]


def test_postal_ranges_compare_codes_of_the_same_length_inclusively(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-range
          effect: forbid
          when:
            destination:
              postal_codes:
                ranges: [{from: "83000", to: "87999"}, {from: "295000", to: "299999"}]
                patterns: ["9[5-8]\\\\d{3}"]
          code: cf
          message: f
          source: t
        """,
    )
    item = product()

    def ok(code: str, country: str = "UA") -> bool:
        return line(eng, item, Destination(country=country, postal_code=code)).eligible

    assert not ok("83000") and not ok("87999") and not ok("85500")
    assert ok("82999") and ok("88000")
    assert not ok("295000") and not ok("299999") and ok("01001")
    assert not ok("95000") and not ok("98999") and ok("99000")
    # US: the 5-digit ZIP of a ZIP+4 is compared.
    assert not ok("85000-1234", "US") and ok("82000-1234", "US")


def test_a_postal_code_invalid_for_its_country_fails_closed(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-range
          effect: forbid
          when: {destination: {postal_codes: {ranges: [{from: "83000", to: "87999"}]}}}
          code: cf
          message: f
          source: t
        """,
    )
    decided = line(eng, product(), Destination(country="UA", postal_code="ABC"))
    assert [(r.rule_id, r.code) for r in decided.reasons] == [("f-range", "rule_error")]


@pytest.mark.parametrize(
    ("at", "active"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC) - timedelta(microseconds=1), False),
        (datetime(2026, 1, 1, tzinfo=UTC), True),
        (datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), True),  # the same instant
        (datetime(2026, 1, 1), True),  # naive is UTC
        (datetime(2026, 2, 1, tzinfo=UTC) - timedelta(microseconds=1), True),
        (datetime(2026, 2, 1, tzinfo=UTC), False),
    ],
)
def test_an_effective_window_starts_at_its_exact_instant_and_ends_just_before_until(
    tmp_path: Path, at: datetime, active: bool
) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-january
          effect: forbid
          effective_from: 2026-01-01
          effective_until: 2026-02-01T00:00:00Z
          code: cf
          message: f
          source: t
        """,
    )
    assert line(eng, product(), at=at).eligible is not active


def test_a_decision_time_is_reported_in_utc(tmp_path: Path) -> None:
    eng = engine(tmp_path, "")
    at = datetime(2026, 1, 1, 1, 0, 0, 500, tzinfo=timezone(timedelta(hours=1)))
    decision = eng.decide([CartLine(product(), 1)], US_NY, at)
    assert decision.at == datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC)
    assert decision.evaluated_at == "2026-01-01T00:00:00.000500Z"
    before = datetime.now(UTC)
    assert before <= eng.decide([CartLine(product(), 1)], US_NY).at <= datetime.now(UTC)


METHOD_RULES = """
- id: standard-everywhere
  effect: offer_method
  method: standard
  price: {amount: 500, currency: USD}
  code: cm
  message: m
  source: t
- id: express-us
  effect: offer_method
  method: express
  price: {amount: 2000, currency: USD}
  when: {destination: {countries: [US]}}
  code: cm
  message: m
  source: t
"""


def test_offered_methods_are_listed_in_the_rulesets_order(tmp_path: Path) -> None:
    eng = engine(tmp_path, METHOD_RULES)
    decision = eng.decide([CartLine(product(), 1)], US_NY, NOW)
    assert [
        {k: v for k, v in m.to_json().items() if k != "reasons"} for m in decision.shipping_methods
    ] == [
        {
            "id": "standard",
            "name": "Standard shipping",
            "price": {"amount": 500, "currency": "USD"},
        },
        {"id": "express", "name": "Express shipping", "price": {"amount": 2000, "currency": "USD"}},
    ]
    assert methods(eng, [CartLine(product(), 1)], Destination(country="CA")) == {"standard": 500}


def test_effective_dates_apply_to_shipping_method_rules(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: express-ends
  effect: restrict_method
  method: express
  effective_from: 2026-03-01
  code: cm
  message: m
  source: t
- id: standard-surcharge-winter
  effect: surcharge
  method: standard
  amount: {amount: 100, currency: USD}
  effective_until: 2026-03-01
  code: cm
  message: m
  source: t
- id: standard-promo
  effect: offer_method
  method: standard
  price: {amount: 900, currency: USD}
  effective_from: 2026-02-01
  effective_until: 2026-02-02
  code: cm
  message: m
  source: t
""",
    )
    lines = [CartLine(product(), 1)]
    assert methods(eng, lines, at=datetime(2026, 1, 15, tzinfo=UTC)) == {
        "standard": 600,
        "express": 2000,
    }
    assert methods(eng, lines, at=datetime(2026, 2, 1, tzinfo=UTC)) == {
        "standard": 1000,
        "express": 2000,
    }
    assert methods(eng, lines, at=datetime(2026, 3, 1, tzinfo=UTC) - timedelta(microseconds=1)) == {
        "standard": 600,
        "express": 2000,
    }
    assert methods(eng, lines, at=datetime(2026, 3, 1, tzinfo=UTC)) == {"standard": 500}


def test_the_higher_price_wins_when_two_offers_compete(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: a-standard-cheap
  effect: offer_method
  method: standard
  price: {amount: 100, currency: USD}
  when: {destination: {countries: [US]}}
  code: cm
  message: m
  source: t
- id: z-standard-dear
  effect: offer_method
  method: standard
  price: {amount: 700, currency: USD}
  when: {destination: {countries: [US]}}
  code: cm
  message: m
  source: t
""",
    )
    assert methods(eng, [CartLine(product(), 1)])["standard"] == 700
    assert methods(eng, [CartLine(product(), 1)], Destination(country="CA")) == {"standard": 500}


def test_a_surcharge_adds_to_its_methods_price_in_the_same_currency(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: express-hawaii
  effect: surcharge
  method: express
  amount: {amount: 2000, currency: USD}
  when: {destination: {subdivisions: [US-HI]}}
  code: cm
  message: m
  source: t
- id: express-hawaii-fuel
  effect: surcharge
  method: express
  amount: {amount: 150, currency: USD}
  when: {destination: {subdivisions: [US-HI]}}
  code: cm
  message: m
  source: t
- id: express-hawaii-eur
  effect: surcharge
  method: express
  amount: {amount: 99, currency: EUR}
  when: {destination: {subdivisions: [US-HI]}}
  code: cm
  message: m
  source: t
""",
    )
    hi = Destination(country="US", subdivision="US-HI")
    assert methods(eng, [CartLine(product(), 1)], hi) == {"standard": 500, "express": 4150}


def test_a_method_restricted_for_one_physical_line_is_withdrawn_for_the_cart(
    tmp_path: Path,
) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: no-express-for-supplements
  effect: restrict_method
  method: express
  when: {product: {categories: [supplement]}}
  code: cm
  message: m
  source: t
""",
    )
    book = CartLine(product("BOOK-1"), 1)
    supplement = CartLine(product("SUP-1", category="supplement", supply_days=30), 1)
    ebook = CartLine(product("EBOOK-1", kind="digital", category="program"), 1)
    assert methods(eng, [book]) == {"standard": 500, "express": 2000}
    assert methods(eng, [book, supplement]) == {"standard": 500}
    assert methods(eng, [book, ebook]) == {"standard": 500, "express": 2000}


def test_a_method_rule_that_cannot_be_evaluated_fails_closed(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: no-express-heavy
  effect: restrict_method
  method: express
  when: {product: {attributes: [{name: weight_kg, op: gt, value: 20}]}}
  code: cm
  message: m
  source: t
- id: no-standard-remote-zips
  effect: restrict_method
  method: standard
  when: {destination: {postal_codes: {ranges: [{from: "99500", to: "99999"}]}}}
  code: cm
  message: m
  source: t
""",
    )
    light = CartLine(product("BOOK-1", weight_kg=1), 1)
    unknown_weight = CartLine(product("BOOK-2"), 1)
    assert methods(eng, [light]) == {"standard": 500, "express": 2000}
    assert methods(eng, [unknown_weight]) == {"standard": 500}  # weight unknown: no express
    # A postal code the restriction cannot judge (invalid for the country): no standard.
    bad_zip = Destination(country="US", postal_code="ABCDE")
    assert methods(eng, [light], bad_zip) == {"express": 2000}
    assert methods(eng, [light], Destination(country="US", postal_code="99501")) == {
        "express": 2000
    }
    assert methods(eng, [light], Destination(country="US", postal_code="10001")) == {
        "standard": 500,
        "express": 2000,
    }


def test_an_offer_that_cannot_be_evaluated_is_not_made(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
- id: standard-zips
  effect: offer_method
  method: standard
  price: {amount: 500, currency: USD}
  when: {destination: {postal_codes: {ranges: [{from: "10000", to: "19999"}]}}}
  code: cm
  message: m
  source: t
""",
    )
    item = [CartLine(product(), 1)]
    assert methods(eng, item, Destination(country="US", postal_code="10001")) == {"standard": 500}
    assert methods(eng, item, Destination(country="US", postal_code="ABCDE")) == {}
    assert methods(eng, item, Destination(country="US", postal_code="20001")) == {}


# The build ships the engine pickled (rules/compiled.py): its rules' effect strings are
# then equal to, but not the same objects as, the code's literals. Each method clause
# below is pinned for both engines.
@pytest.fixture(params=["from-yaml", "from-build-artifact"])
def shipped(request: pytest.FixtureRequest) -> Callable[[Engine], Engine]:
    if request.param == "from-yaml":
        return lambda eng: eng
    return lambda eng: pickle.loads(pickle.dumps(eng, protocol=pickle.HIGHEST_PROTOCOL))


def unavailable(
    eng: Engine, lines: list[CartLine], dest: Destination = US_NY
) -> dict[str, list[tuple[str, str]]]:
    decision = eng.decide(lines, dest, NOW)
    return {
        m.id: [(r.rule_id, r.code) for r in m.reasons]
        for m in decision.unavailable_shipping_methods
    }


BAD_ZIP = Destination(country="US", postal_code="ABCDE")  # no US postal code: cannot be judged


def test_offers_restrictions_and_surcharges_apply_in_an_engine_from_the_build_artifact(
    tmp_path: Path, shipped: Callable[[Engine], Engine]
) -> None:
    eng = shipped(
        engine(
            tmp_path,
            METHOD_RULES
            + """
- id: express-hawaii
  effect: surcharge
  method: express
  amount: {amount: 2000, currency: USD}
  when: {destination: {subdivisions: [US-HI]}}
  code: cm
  message: m
  source: t
- id: no-express-alaska
  effect: restrict_method
  method: express
  when: {destination: {subdivisions: [US-AK]}}
  code: cm
  message: m
  source: t
""",
        )
    )
    book = [CartLine(product(), 1)]
    assert methods(eng, book) == {"standard": 500, "express": 2000}
    assert methods(eng, book, Destination(country="US", subdivision="US-HI")) == {
        "standard": 500,
        "express": 4000,
    }
    alaska = Destination(country="US", subdivision="US-AK")
    assert methods(eng, book, alaska) == {"standard": 500}
    assert unavailable(eng, book, alaska) == {"express": [("no-express-alaska", "cm")]}


def test_an_offer_that_cannot_be_evaluated_leaves_another_offer_of_its_method(
    tmp_path: Path, shipped: Callable[[Engine], Engine]
) -> None:
    eng = shipped(
        engine(
            tmp_path,
            METHOD_RULES
            + """
- id: standard-east-coast
  effect: offer_method
  method: standard
  price: {amount: 900, currency: USD}
  when: {destination: {postal_codes: {ranges: [{from: "10000", to: "19999"}]}}}
  code: cm
  message: m
  source: t
""",
        )
    )
    book = [CartLine(product(), 1)]
    assert methods(eng, book, BAD_ZIP) == {"standard": 500, "express": 2000}
    assert unavailable(eng, book, BAD_ZIP) == {}


def test_a_restriction_with_product_conditions_that_cannot_be_evaluated_is_judged_per_line(
    tmp_path: Path, shipped: Callable[[Engine], Engine]
) -> None:
    """Its destination condition errors, but a product condition that is definitely false
    for a line beats the error: only a line it might match withdraws the method."""
    eng = shipped(
        engine(
            tmp_path,
            METHOD_RULES
            + """
- id: no-express-remote-supplements
  effect: restrict_method
  method: express
  when:
    destination: {postal_codes: {ranges: [{from: "99500", to: "99999"}]}}
    product: {categories: [supplement]}
  code: cm
  message: m
  source: t
""",
        )
    )
    book = CartLine(product("BOOK-1"), 1)
    supplement = CartLine(product("SUP-1", category="supplement", supply_days=30), 1)
    assert methods(eng, [book], BAD_ZIP) == {"standard": 500, "express": 2000}
    assert methods(eng, [book, supplement], BAD_ZIP) == {"standard": 500}
    assert unavailable(eng, [book, supplement], BAD_ZIP) == {
        "express": [("no-express-remote-supplements", "rule_error")]
    }


def test_every_restriction_that_withdraws_a_method_is_named_even_one_that_cannot_be_evaluated(
    tmp_path: Path,
) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: no-express-remote-zips
  effect: restrict_method
  method: express
  when: {destination: {postal_codes: {ranges: [{from: "99500", to: "99999"}]}}}
  code: cm
  message: m
  source: t
- id: no-express-us
  effect: restrict_method
  method: express
  when: {destination: {countries: [US]}}
  code: cx
  message: m
  source: t
""",
    )
    assert unavailable(eng, [CartLine(product(), 1)], BAD_ZIP) == {
        "express": [("no-express-remote-zips", "rule_error"), ("no-express-us", "cx")]
    }


def test_of_two_offers_for_one_method_the_higher_price_wins_whatever_their_order(
    tmp_path: Path,
) -> None:
    dear = """
- id: a-standard-dear
  effect: offer_method
  method: standard
  price: {amount: 700, currency: USD}
  code: cm
  message: m
  source: t
"""
    cheap = """
- id: z-standard-cheap
  effect: offer_method
  method: standard
  price: {amount: 100, currency: USD}
  code: cm
  message: m
  source: t
"""
    book = [CartLine(product(), 1)]
    assert methods(engine(tmp_path, METHOD_RULES + dear + cheap), book)["standard"] == 700
    assert methods(engine(tmp_path, METHOD_RULES + cheap + dear), book)["standard"] == 700


def test_of_two_offers_at_one_price_the_greater_rule_id_wins_whatever_their_order(
    tmp_path: Path,
) -> None:
    free = """
- id: standard-b-free-from-10
  effect: offer_method
  method: standard
  price: {amount: 500, currency: USD}
  free_from: {amount: 1000, currency: USD}
  code: cm
  message: m
  source: t
"""
    book = [CartLine(product(price=1000), 1)]
    # standard-everywhere (500, never free) sorts after standard-b-...: it wins.
    assert methods(engine(tmp_path, METHOD_RULES + free), book)["standard"] == 500
    assert methods(engine(tmp_path, free + METHOD_RULES), book)["standard"] == 500
    renamed = free.replace("standard-b-", "standard-z-")
    assert methods(engine(tmp_path, METHOD_RULES + renamed), book)["standard"] == 0
    assert methods(engine(tmp_path, renamed + METHOD_RULES), book)["standard"] == 0


def test_a_surcharge_in_another_currency_than_its_offer_is_not_added(tmp_path: Path) -> None:
    # USD sorts after EUR, CHF before it: neither is added to a EUR price.
    eng = engine(
        tmp_path,
        """
- id: standard-eu
  effect: offer_method
  method: standard
  price: {amount: 800, currency: EUR}
  code: cm
  message: m
  source: t
- id: standard-usd-fee
  effect: surcharge
  method: standard
  amount: {amount: 300, currency: USD}
  code: cm
  message: m
  source: t
- id: standard-chf-fee
  effect: surcharge
  method: standard
  amount: {amount: 200, currency: CHF}
  code: cm
  message: m
  source: t
- id: standard-eur-fee
  effect: surcharge
  method: standard
  amount: {amount: 100, currency: EUR}
  code: cm
  message: m
  source: t
""",
    )
    quotes = eng.decide([CartLine(product(), 1)], US_NY, NOW).shipping_methods
    assert [(q.id, q.price.amount, q.price.currency) for q in quotes] == [("standard", 900, "EUR")]
    assert [r.rule_id for r in quotes[0].reasons] == ["standard-eur-fee"]


def test_a_method_withdrawn_for_a_line_leaves_the_next_methods_priced(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: no-standard-for-supplements
  effect: restrict_method
  method: standard
  when: {product: {categories: [supplement]}}
  code: cm
  message: m
  source: t
""",
    )
    supplement = CartLine(product("SUP-1", category="supplement", supply_days=30), 1)
    assert methods(eng, [supplement]) == {"express": 2000}
    assert unavailable(eng, [supplement]) == {"standard": [("no-standard-for-supplements", "cm")]}


def test_a_cart_with_no_line_in_the_thresholds_currency_is_never_shipped_free(
    tmp_path: Path,
) -> None:
    """Even a threshold of 0: free shipping needs every physical line in its currency."""
    eng = engine(
        tmp_path,
        """
- id: standard-eu
  effect: offer_method
  method: standard
  price: {amount: 800, currency: EUR}
  free_from: {amount: 0, currency: EUR}
  code: cm
  message: m
  source: t
""",
    )
    assert methods(eng, [CartLine(product(currency="USD"), 1)]) == {"standard": 800}
    assert methods(eng, [CartLine(product(currency="EUR"), 1)]) == {"standard": 0}


def test_a_method_rules_message_names_the_subdivision_or_nothing_without_one(
    tmp_path: Path,
) -> None:
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: no-express-hawaii
  effect: restrict_method
  method: express
  when: {destination: {subdivisions: [US-HI]}}
  code: cm
  message: "No express to {subdivision}."
  source: t
- id: no-standard-canada
  effect: restrict_method
  method: standard
  when: {destination: {countries: [CA]}}
  code: cm
  message: "No standard to {country}{subdivision}."
  source: t
""",
    )
    book = [CartLine(product(), 1)]

    def messages(dest: Destination) -> list[str]:
        decision = eng.decide(book, dest, NOW)
        return [r.message for m in decision.unavailable_shipping_methods for r in m.reasons]

    assert messages(Destination(country="US", subdivision="US-HI")) == ["No express to US-HI."]
    assert messages(Destination(country="CA")) == ["No standard to CA."]


def test_a_shipping_quote_or_withdrawal_handed_out_cannot_be_changed(tmp_path: Path) -> None:
    """Decisions share their quotes and withdrawals (the engine caches them per destination):
    a caller editing one would change every later cart's prices or reasons."""
    eng = engine(
        tmp_path,
        METHOD_RULES
        + """
- id: no-express-hawaii
  effect: restrict_method
  method: express
  when: {destination: {subdivisions: [US-HI]}}
  code: cm
  message: m
  source: t
""",
    )
    hi = Destination(country="US", subdivision="US-HI")
    decision = eng.decide([CartLine(product(), 1)], hi, NOW)
    with pytest.raises(AttributeError):
        decision.shipping_methods[0].name = "anything"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.unavailable_shipping_methods[0].name = "anything"  # type: ignore[misc]
    again = eng.decide([CartLine(product(), 1)], hi, NOW)
    assert again.shipping_methods[0].name == "Standard shipping"
    assert again.unavailable_shipping_methods[0].name == "Express shipping"


def test_rule_order_does_not_change_decisions_or_the_version(tmp_path: Path) -> None:
    forward = """
    - {id: f-ca, effect: forbid, when: {destination: {countries: [CA]}}, code: cf, message: f, source: t}
    - {id: limit-two, effect: limit, max_quantity: 2, code: cl, message: l, source: t}
    """
    backward = """
    - {id: limit-two, effect: limit, max_quantity: 2, code: cl, message: l, source: t}
    - {id: f-ca, effect: forbid, when: {destination: {countries: [CA]}}, code: cf, message: f, source: t}
    """
    a = engine(tmp_path, forward)
    b = engine(tmp_path, backward)
    assert a.version == b.version
    changed = engine(tmp_path, forward.replace("max_quantity: 2", "max_quantity: 3"))
    assert changed.version != a.version


def test_the_version_follows_the_methods_order_not_the_order_of_groups_or_ingredients(
    tmp_path: Path,
) -> None:
    """Quotes are listed in the order of ``methods:``, so that order is content; the order
    of groups and ingredients changes nothing."""
    header = (
        "ingredients: [zinc, iron]\ngroups:\n  NORTH: [CA]\n  SOUTH: [MX]\nmethods:\n"
        "  standard: {name: Standard}\n  express: {name: Express}\nrules:\n"
    )
    rules = "- {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n"
    base = engine(tmp_path, rules, header=header).version
    swapped = header.replace("zinc, iron", "iron, zinc").replace(
        "  NORTH: [CA]\n  SOUTH: [MX]", "  SOUTH: [MX]\n  NORTH: [CA]"
    )
    assert engine(tmp_path, rules, header=swapped).version == base
    reordered = header.replace(
        "  standard: {name: Standard}\n  express: {name: Express}",
        "  express: {name: Express}\n  standard: {name: Standard}",
    )
    assert engine(tmp_path, rules, header=reordered).version != base


def test_a_loaded_rule_cannot_be_changed() -> None:
    """Engines, the memo and the build artifact hold rules: none may change under them."""
    rule = load_ruleset().rules[0]
    with pytest.raises(ValidationError, match="frozen"):
        rule.message = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-06-01T12:00:00", datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ('"2026-06-01T12:00:00"', datetime(2026, 6, 1, 12, tzinfo=UTC)),
        ('"2026-06-01T12:00:00+02:00"', datetime(2026, 6, 1, 10, tzinfo=UTC)),
    ],
    ids=["date", "naive", "naive-text", "offset"],
)
def test_an_effective_time_without_a_zone_is_utc_on_any_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, expected: datetime
) -> None:
    # A machine in New York reads the same instants (Lambda runs in UTC; laptops do not).
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        eng = engine(
            tmp_path,
            f"- {{id: f-x, effect: forbid, effective_from: {written}, code: cf, message: f, "
            "source: t}\n",
        )
    finally:
        monkeypatch.undo()
        time.tzset()
    assert eng.ruleset.rules[1].effective_from == expected
    just_before = expected - timedelta(microseconds=1)
    assert line(eng, product(), US_NY, at=just_before).eligible
    assert not line(eng, product(), US_NY, at=expected).eligible


def test_an_unknown_placeholder_after_escaped_braces_is_refused(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "- {id: f-x, effect: forbid, code: cf, message: 'a {{brace}} and {nope}', source: t}\n",
    )
    assert "message placeholder {nope} is unknown" in message


def test_free_shipping_in_another_currency_than_the_price_is_refused(tmp_path: Path) -> None:
    for free, price in (("USD", "EUR"), ("EUR", "USD")):
        message = refused(
            tmp_path,
            "- {id: std, effect: offer_method, method: standard, "
            f"price: {{amount: 595, currency: {price}}}, "
            f"free_from: {{amount: 7500, currency: {free}}}, code: cs, message: s, source: t}}\n",
        )
        assert "free_from and price must use one currency" in message


def test_group_entries_are_trimmed_and_upper_cased(tmp_path: Path) -> None:
    header = HEADER.replace('  NORTH: [CA, "NO"]', '  NORTH: [" ca", "no "]')
    eng = engine(
        tmp_path,
        "- {id: f-north, effect: forbid, when: {destination: {countries: [NORTH]}}, "
        "code: cf, message: f, source: t}\n",
        header=header,
    )
    assert eng.ruleset.groups["NORTH"] == ["CA", "NO"]
    for country in ("CA", "NO"):
        assert ids(line(eng, product(), Destination(country=country))) == ["f-north"]
    assert line(eng, product(), Destination(country="US")).eligible


@pytest.mark.parametrize("where", ["rule", "group"])
def test_a_one_letter_country_is_an_unknown_group(tmp_path: Path, where: str) -> None:
    """Two letters are a country code; anything else must be a group (a typo of a code
    would otherwise match nothing and let goods through)."""
    header = HEADER.replace('[CA, "NO"]', '[CA, "N"]') if where == "group" else HEADER
    countries = "[NORTH]" if where == "group" else "[U]"
    message = refused_with(
        tmp_path,
        header,
        f"- {{id: f-x, effect: forbid, when: {{destination: {{countries: {countries}}}}}, "
        "code: cf, message: f, source: t}\n",
    )
    assert ("unknown country group 'U'" if where == "rule" else "'N'") in message


# ====================================================================== the schema refuses


def test_the_schema_refuses_a_backwards_postal_range(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        """
        - id: f-range
          effect: forbid
          when: {destination: {postal_codes: {ranges: [{from: "87999", to: "83000"}]}}}
          code: cf
          message: f
          source: t
        """,
    )
    assert "postal range 87999-83000 ends before it starts" in message


# The second pair puts the longer bound first: "10000" sorts before "9999", so only the
# lengths tell.
@pytest.mark.parametrize(("start", "end"), [("8300", "87999"), ("10000", "9999")])
def test_the_schema_refuses_postal_bounds_of_different_lengths(
    tmp_path: Path, start: str, end: str
) -> None:
    message = refused(
        tmp_path,
        f"""
        - id: f-range
          effect: forbid
          when: {{destination: {{postal_codes: {{ranges: [{{from: "{start}", to: "{end}"}}]}}}}}}
          code: cf
          message: f
          source: t
        """,
    )
    assert "same length" in message


def test_a_postal_range_of_one_code_is_accepted(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: f-one
          effect: forbid
          when: {destination: {postal_codes: {ranges: [{from: 10001, to: 10001}]}}}
          code: cf
          message: f
          source: t
        """,
    )
    assert not line(eng, product(), Destination(country="US", postal_code="10001")).eligible
    assert line(eng, product(), Destination(country="US", postal_code="10002")).eligible


def test_the_schema_refuses_a_bad_regular_expression(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        """
        - id: f-pattern
          effect: forbid
          when: {destination: {postal_codes: {patterns: ["9[5-8"]}}}
          code: cf
          message: f
          source: t
        """,
    )
    assert "bad regular expression '9[5-8'" in message


def test_the_schema_refuses_an_empty_postal_condition(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        """
        - id: f-empty
          effect: forbid
          when: {destination: {postal_codes: {}}}
          code: cf
          message: f
          source: t
        """,
    )
    assert "postal_codes needs ranges or patterns" in message


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("- {id: f, effect: forbid, code: cf, message: f, source: t}", "id"),
        (
            "- {id: permit-all, effect: forbid, code: cf, message: f, source: t}",
            "duplicate rule id 'permit-all'",
        ),
        (
            "- {id: f-x, effect: forbid, when: {destination: {countries: [NOWHERE]}}, code: cf, message: f, source: t}",
            "unknown country group 'NOWHERE'",
        ),
        (
            "- {id: f-x, effect: forbid, when: {destination: {countries: []}}, code: cf, message: f, source: t}",
            "an empty list never matches",
        ),
        (
            "- {id: o-x, effect: offer_method, method: drone, price: {amount: 1, currency: USD}, code: cf, message: f, source: t}",
            "unknown shipping method 'drone'",
        ),
        (
            "- {id: o-x, effect: offer_method, method: standard, code: cf, message: f, source: t}",
            "offer_method.price: Field required",
        ),
        (
            "- {id: o-x, effect: offer_method, method: standard, price: {amount: 1, currency: USD}, when: {product: {kinds: [physical]}}, code: cf, message: f, source: t}",
            "offer_method matches the destination only",
        ),
        (
            "- {id: o-x, effect: offer_method, method: standard, price: {amount: 1, currency: USD}, free_from: {amount: 1, currency: EUR}, code: cf, message: f, source: t}",
            "free_from and price must use one currency",
        ),
        (
            "- {id: f-x, effect: forbid, max_quantity: 1, code: cf, message: f, source: t}",
            "forbid.max_quantity: Extra inputs are not permitted",
        ),
        (
            "- {id: l-x, effect: limit, code: cf, message: f, source: t}",
            "effect limit needs exactly one of max_quantity, max_supply_days",
        ),
        (
            "- {id: l-x, effect: limit, max_quantity: 1, max_supply_days: 9, code: cf, message: f, source: t}",
            "exactly one",
        ),
        (
            "- {id: f-x, effect: forbid, effective_from: 2026-02-01, effective_until: 2026-02-01, code: cf, message: f, source: t}",
            "effective_until must be after effective_from",
        ),
        (
            "- {id: f-x, effect: forbid, code: cf, message: 'Not to {planet}', source: t}",
            "message placeholder {planet} is unknown",
        ),
        (
            "- {id: f-x, effect: forbid, code: cf, message: 'Not to {country!r}', source: t}",
            "message placeholder {country} is unknown",
        ),
        ("- {id: f-x, effect: forbid, code: cf, message: 'Not to {', source: t}", "literal braces"),
        (
            "- {id: f-x, effect: forbid, when: {product: {attributes: [{name: pages, op: gt}]}}, code: cf, message: f, source: t}",
            "op gt needs a single value",
        ),
        (
            "- {id: f-x, effect: forbid, when: {product: {attributes: [{name: pages, op: in, value: 3}]}}, code: cf, message: f, source: t}",
            "op in needs a list value",
        ),
        (
            "- {id: f-x, effect: forbid, when: {product: {attributes: [{name: pages, op: exists, value: 3}]}}, code: cf, message: f, source: t}",
            "op exists takes no value",
        ),
        (
            "- {id: f-x, effect: forbid, when: {product: {ingredients: [{any_of: [calcium], op: gt, value: 3}]}}, code: cf, message: f, source: t}",
            "op gt needs a value and a unit",
        ),
        (
            "- {id: f-x, effect: forbid, when: {product: {ingredients: [{any_of: [calcium], value: 3, unit: mg}]}}, code: cf, message: f, source: t}",
            "op present takes no value or unit",
        ),
        (
            '- {id: f-x, effect: forbid, when: {destination: {countries: ["NO"], planet: mars}}, code: cf, message: f, source: t}',
            "planet",
        ),
    ],
)
def test_the_schema_refuses_rules_that_cannot_mean_anything(
    tmp_path: Path, rules: str, expected: str
) -> None:
    assert expected in refused(tmp_path, rules + "\n")


def test_a_group_may_list_groups_but_not_itself(tmp_path: Path) -> None:
    nested = HEADER.replace('  NORTH: [CA, "NO"]\n', '  NORTH: [CA, "NO"]\n  FAR: [NORTH, JP]\n')
    eng = engine(
        tmp_path,
        "- {id: f-far, effect: forbid, when: {destination: {countries: [FAR]}}, code: cf, message: f, source: t}\n",
        header=nested,
    )
    assert not line(eng, product(), Destination(country="NO")).eligible
    assert not line(eng, product(), Destination(country="JP")).eligible
    assert line(eng, product(), Destination(country="SE")).eligible
    looped = HEADER.replace('  NORTH: [CA, "NO"]\n', "  NORTH: [CA, SOUTH]\n  SOUTH: [NORTH]\n")
    with pytest.raises(RulesetError, match="includes itself"):
        engine(tmp_path, "", header=looped)


def test_an_ingredient_outside_the_vocabulary_is_refused(tmp_path: Path) -> None:
    header = HEADER.replace("rules:\n", "ingredients: [calcium, melatonin]\nrules:\n")
    message = refused_with(
        tmp_path,
        header,
        "- {id: f-x, effect: forbid, when: {product: {ingredients: [{any_of: [melatonine]}]}}, code: cf, message: f, source: t}\n",
    )
    assert "ingredients not in `ingredients:`: ['melatonine']" in message


def refused_with(tmp_path: Path, header: str, rules: str) -> str:
    with pytest.raises(RulesetError) as info:
        engine(tmp_path, rules, header=header)
    return str(info.value)


def test_a_yaml_error_or_a_non_mapping_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rules:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    assert str(path) in str(info.value) and "YAML" in str(info.value)
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(RulesetError, match="a ruleset is a mapping"):
        load_ruleset(path)


def test_a_yaml_error_names_the_line_it_is_on(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "schema_version: 1\nrules:\n  - {id: a, effect: permit, code: ok, message: ok\n  - x\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    assert str(info.value).startswith(f"{path}:5: error L000: YAML:")
    assert info.value.issues[0].line == 5


@pytest.mark.parametrize("entry", ["just text", "[a, list]"], ids=["scalar", "list"])
def test_a_rule_that_is_not_a_mapping_is_a_schema_error_on_its_line(
    tmp_path: Path, entry: str
) -> None:
    """A ruleset error is always a RulesetError that names the place (never a crash of the
    loader, which the lint command and cold start would show as a traceback)."""
    path = tmp_path / "ruleset.yaml"
    path.write_text(HEADER + f"  - {entry}\n", encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    issue = info.value.issues[0]
    assert (issue.line, issue.rule_id) == (HEADER.count("\n") + 1, None)
    assert "rules.1" in issue.message or "rules.1" in str(info.value)


# A ruleset written in block style, each field on its own line, so that a test can say
# which line an error must name (the line numbers are on the right).
BLOCK_RULESET = """\
# Shipping rules (a comment)
# owned by ops
schema_version: 1                     # 3
groups:                               # 4
  NORTH: [CA, "NO"]                   # 5
rules:                                # 6
  - id: permit-all                    # 7
    effect: permit                    # 8
    code: ok                          # 9
    message: ok                       # 10
    source: test                      # 11
  - id: f-post                        # 12
    effect: forbid                    # 13
    code: {code}                      # 14
    message: m                        # 15
    source: t                         # 16
    when:                             # 17
      destination:                    # 18
        countries: [{country}]        # 19
        postal_codes:                 # 20
          ranges:                     # 21
            - from: "{start}"         # 22
              to: "200"               # 23
      product:                        # 24
        skus: [{sku}]                 # 25
"""


def block_issues(**fields: str) -> list[tuple[int | None, str | None, str]]:
    values = {"code": "cf", "country": "US", "start": "100", "sku": "BOOK-1"} | fields
    with pytest.raises(RulesetError) as info:
        parse_ruleset(BLOCK_RULESET.format(**values), "r.yaml")
    return [(i.line, i.rule_id, i.message.split(":")[0]) for i in info.value.issues]


@pytest.mark.parametrize(
    ("field", "value", "line", "path"),
    [
        # Fields on either side of the rule's effect in the alphabet ("forbid"), at every
        # depth: pydantic's location names the rule's effect after its index, which is not
        # a key of the file and must not stop the search at the rule's first line.
        ("code", "C", 14, "rules.1.forbid.code"),
        ("country", "[US]", 19, "rules.1.forbid.when.destination.countries.0"),
        ("start", "", 22, "rules.1.forbid.when.destination.postal_codes.ranges.0.from"),
        ("start", "300", 22, "rules.1.forbid.when.destination.postal_codes.ranges.0"),
        ("sku", "{a: 1}", 25, "rules.1.forbid.when.product.skus.0"),
    ],
)
def test_a_schema_error_names_the_line_of_the_field_at_fault(
    field: str, value: str, line: int, path: str
) -> None:
    assert block_issues(**{field: value}) == [(line, "f-post", path)]


def test_a_missing_field_names_the_line_of_the_part_that_lacks_it() -> None:
    # No `rules:` at all: the ruleset's own first line (after the comments).
    text = BLOCK_RULESET.split("rules:")[0]
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text, "r.yaml")
    assert [(i.line, i.rule_id) for i in info.value.issues] == [(3, None)]
    # A rule without a message: the rule's first line.
    text = BLOCK_RULESET.format(code="cf", country="US", start="100", sku="B-1")
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text.replace("    message: m  ", "    #essage: m  "), "r.yaml")
    assert [(i.line, i.rule_id, i.message) for i in info.value.issues] == [
        (12, "f-post", "rules.1.forbid.message: Field required")
    ]


def test_a_misspelt_field_names_its_own_line_and_the_rule_lacking_the_real_one() -> None:
    text = BLOCK_RULESET.format(code="cf", country="US", start="100", sku="B-1")
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text.replace("    source: t  ", "    sauce: t   "), "r.yaml")
    assert sorted((i.line, i.rule_id, i.message) for i in info.value.issues) == [
        (12, "f-post", "rules.1.forbid.source: Field required"),
        (16, "f-post", "rules.1.forbid.sauce: Extra inputs are not permitted"),
    ]
    # The rule's id given as a list is no id to name.
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text.replace("id: f-post", "id: [f-post]"), "r.yaml")
    assert [(i.line, i.rule_id) for i in info.value.issues] == [(12, None)]


def test_an_error_of_a_rule_that_is_not_a_mapping_names_no_rule() -> None:
    text = BLOCK_RULESET.format(code="cf", country="US", start="100", sku="B-1")
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text.replace("  - id: permit-all", "  - permit-all\n  - id: p-2"), "r.yaml")
    assert [(i.line, i.rule_id) for i in info.value.issues] == [(7, None)]


def test_a_duplicate_rule_id_names_the_line_of_the_second_entry() -> None:
    text = BLOCK_RULESET.format(code="cf", country="US", start="100", sku="B-1")
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text.replace("id: f-post", "id: permit-all"), "r.yaml")
    assert [(i.line, i.rule_id) for i in info.value.issues] == [(12, "permit-all")]
    assert "duplicate rule id 'permit-all'" in info.value.issues[0].message


def test_a_ruleset_error_message_shows_the_first_five_issues() -> None:
    rules = "".join(
        f"  - {{id: f-{n}, effect: forbid, code: C, message: m, source: t}}\n" for n in range(7)
    )
    with pytest.raises(RulesetError) as info:
        parse_ruleset("rules:\n" + rules, "r.yaml")
    assert len(info.value.issues) == 7
    assert str(info.value) == "; ".join(str(i) for i in info.value.issues[:5])
    assert str(info.value).count("r.yaml:") == 5


def test_a_lint_finding_is_a_value() -> None:
    """Two reports of the same finding are one finding (a set of issues dedups them)."""
    finding = Issue("warning", "r.yaml", 3, "f-a", "shadowed", "L003")
    assert {finding, Issue("warning", "r.yaml", 3, "f-a", "shadowed", "L003")} == {finding}


def test_a_schema_error_says_which_rule_and_line(tmp_path: Path) -> None:
    with pytest.raises(RulesetError) as info:
        engine(
            tmp_path,
            "- {id: f-x, effect: forbid, code: cf, message: f, source: t, max_quantity: 2}\n",
        )
    issue = info.value.issues[0]
    assert issue.rule_id == "f-x"
    assert issue.line == HEADER.count("\n") + 1
    assert issue.severity == "error"


def test_an_unquoted_no_is_explained(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "- {id: f-x, effect: forbid, when: {destination: {countries: [NO]}}, code: cf, message: f, source: t}\n",
    )
    assert "quote it" in message


# ---------------------------------------------------------------------- errors deny:
# an ingredient the ruleset's vocabulary does not name (docs/rules.md, "Errors deny")

VOCABULARY_HEADER = HEADER.replace("rules:\n", "ingredients: [calcium, melatonin]\nrules:\n")


def test_errors_deny_a_product_with_an_ingredient_outside_the_vocabulary(tmp_path: Path) -> None:
    """No rule can name `kava` when the vocabulary does not: even under a permit-all, the
    product is refused with a rule_error, never let through."""
    eng = engine(tmp_path, "", header=VOCABULARY_HEADER)
    known = product("SUP-OK", category="supplement", supply_days=30, ingredients={"calcium": {}})
    unknown = product(
        "SUP-KAVA",
        category="supplement",
        supply_days=30,
        ingredients={"calcium": {}, "kava": {"amount": 100, "unit": "mg"}},
    )
    decision = eng.decide([CartLine(known, 1), CartLine(unknown, 1)], US_NY, NOW)
    ok, refused_line = decision.items
    assert ok.eligible and ok.reasons == []
    assert not decision.eligible and not refused_line.eligible
    assert [(r.rule_id, r.code, r.message) for r in refused_line.reasons] == [
        (
            "unknown-ingredient",
            "rule_error",
            "We can't confirm that Product SUP-KAVA may ship to United States right now; "
            "please contact support.",
        )
    ]


def test_errors_deny_an_unknown_ingredient_alongside_a_forbid_and_in_every_view(
    tmp_path: Path,
) -> None:
    """The refusal sorts with the other reasons by rule id, shows in the trace, and holds for
    availability and Stripe's country list alike (the memo never lets a second look through)."""
    eng = engine(
        tmp_path,
        "- {id: zz-forbid-ca, effect: forbid, when: {destination: {countries: [CA]}}, "
        "code: no_ca, message: f, source: t}\n",
        header=VOCABULARY_HEADER,
    )
    item = product("SUP-KAVA", category="supplement", supply_days=30, ingredients={"kava": {}})
    ca = Destination(country="CA")
    assert ids(line(eng, item, ca)) == ["unknown-ingredient", "zz-forbid-ca"]
    for _ in range(2):  # the second decision comes from the memo
        assert ids(line(eng, item)) == ["unknown-ingredient"]
    traced = eng.decide([CartLine(item, 1)], US_NY, NOW, trace=True).items[0]
    assert {"rule_id": "unknown-ingredient", "result": "error"}.items() <= traced.trace[-1].items()
    assert "kava" in traced.trace[-1]["detail"]
    assert eng.availability(item, "US", NOW)["eligible"] is False
    assert eng.allowed_countries([CartLine(item, 1)], NOW) == []


def test_without_a_vocabulary_an_ingredient_is_judged_by_the_rules_alone(tmp_path: Path) -> None:
    """`ingredients:` is optional (docs/rules.md): without it there is no vocabulary for a
    name to be outside of, and the rules decide as written."""
    eng = engine(tmp_path, "")
    item = product("SUP-KAVA", category="supplement", supply_days=30, ingredients={"kava": {}})
    assert line(eng, item).eligible


def test_the_default_ruleset_refuses_a_supplement_with_an_unlisted_ingredient() -> None:
    base = SEED["D3K2-60"]
    attributes = base.attributes.model_dump()
    attributes["ingredients"] = {**attributes["ingredients"], "kava": {}}
    item = base.model_copy(update={"attributes": type(base.attributes).model_validate(attributes)})
    assert line(default_engine(), base).eligible
    assert ids(line(default_engine(), item)) == ["unknown-ingredient"]


@pytest.mark.parametrize(("op", "stated", "applies"), [("le", "5", True), ("le", "6", False)])
def test_an_attribute_stated_as_text_compares_as_a_number_at_the_bound(
    tmp_path: Path, op: str, stated: str, applies: bool
) -> None:
    eng = engine(
        tmp_path,
        f"- {{id: f-strength, effect: forbid, when: {{product: {{attributes: [{{name: strength, "
        f"op: {op}, value: 5}}]}}}}, code: cf, message: f, source: t}}\n",
    )
    item = product("TXT-1", strength=stated)
    assert ids(line(eng, item)) == (["f-strength"] if applies else [])


def test_the_trace_says_which_conditions_a_rule_has(tmp_path: Path) -> None:
    """docs/api.md: the trace shows every rule considered and why it matched or not."""
    eng = engine(
        tmp_path,
        "- {id: f-po, effect: forbid, when: {destination: {countries: [US], po_box: true}, "
        "product: {kinds: [physical]}}, code: cf, message: f, source: t}\n",
    )
    traced = eng.decide([CartLine(product(), 1)], US_NY, NOW, trace=True).items[0]
    step = next(s for s in traced.trace or [] if s["rule_id"] == "f-po")
    assert step["result"] == "no_match"
    assert step["detail"] == "countries=US; kinds=physical; po_box=True"


def test_the_schema_refuses_a_present_ingredient_test_with_only_a_value_or_only_a_unit(
    tmp_path: Path,
) -> None:
    for extra in ("value: 5", "unit: mg"):
        message = refused(
            tmp_path,
            f"""
            - id: f-present
              effect: forbid
              when: {{product: {{ingredients: [{{any_of: [melatonin], {extra}}}]}}}}
              code: cf
              message: f
              source: t
            """,
        )
        assert "op present takes no value or unit" in message


@pytest.mark.parametrize(("length", "accepted"), [(0, False), (1, True), (300, True), (301, False)])
def test_a_rules_customer_message_is_1_to_300_characters(
    tmp_path: Path, length: int, accepted: bool
) -> None:
    rules = f"""
        - id: f-long
          effect: forbid
          code: cf
          message: "{"m" * length}"
          source: t
        """
    if accepted:
        assert engine(tmp_path, rules).ruleset.rules[-1].message == "m" * length
    else:
        assert "message" in refused(tmp_path, rules)


def test_the_rulesets_json_schema_file_is_the_schema_as_json_ending_in_a_newline() -> None:
    import json

    from bonestore.domain.rules.schema import ruleset_json_schema, ruleset_json_schema_text

    text = ruleset_json_schema_text()
    assert text.endswith("}\n")
    assert json.loads(text) == ruleset_json_schema()
    # The committed file editors read is this text exactly (keys sorted, two-space indent).
    committed = Path(__file__).parents[3] / "shared/bonestore/data/ruleset.schema.json"
    assert text == committed.read_text(encoding="utf-8")


def test_a_ruleset_whose_rules_are_not_a_list_is_refused_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "ruleset.yaml"
    path.write_text("schema_version: 1\nrules: not a list\n", encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    assert info.value.code == "invalid_ruleset"
    assert "ruleset.yaml" in str(info.value)


def test_a_rule_without_an_effect_is_refused_naming_that_rule(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        """
        - {id: no-effect, code: cf, message: f, source: t}
        """,
    )
    assert "[no-effect]" in message


def test_an_error_in_another_list_names_no_rule(tmp_path: Path) -> None:
    path = tmp_path / "ruleset.yaml"
    path.write_text(
        "schema_version: 1\ningredients: [Not-A-Name]\n"
        "rules:\n  - {id: permit-all, effect: permit, code: ok, message: ok, source: t}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    assert "ingredients" in str(info.value)
    assert "[permit-all]" not in str(info.value)


# ====================================================================== one rule's conditions
# CompiledRule.match is a rule's meaning whoever asks (the index only spares calls):
# every condition it has must hold.


def compiled(**when: Any) -> Any:
    dest = {k: when.pop(k) for k in ("countries", "subdivisions", "po_box") if k in when}
    ruleset = Ruleset.model_validate(
        {
            "rules": [
                {
                    "id": "f-x",
                    "effect": "forbid",
                    "code": "cf",
                    "message": "{product_name} to {country}",
                    "source": "t",
                    "when": {"destination": dest, "product": when},
                }
            ]
        }
    )
    return compile_rule(ruleset, ruleset.rules[0])


BOOK_1 = product("BOOK-1", category="book")


DIGITAL_1 = product("EBOOK-1", kind="digital", category="book")
HAWAII = Destination(country="US", subdivision="US-HI")


@pytest.mark.parametrize(
    ("when", "fails", "holds"),
    [
        ({"countries": ["US"]}, (BOOK_1, Destination(country="CA"), False), (BOOK_1, US_NY, False)),
        ({"subdivisions": ["US-HI"]}, (BOOK_1, US_NY, False), (BOOK_1, HAWAII, False)),
        ({"po_box": True}, (BOOK_1, US_NY, False), (BOOK_1, US_NY, True)),
        ({"po_box": False}, (BOOK_1, US_NY, True), (BOOK_1, US_NY, False)),
        ({"skus": ["EBOOK-1"]}, (BOOK_1, US_NY, False), (DIGITAL_1, US_NY, False)),
        ({"kinds": ["digital"]}, (BOOK_1, US_NY, False), (DIGITAL_1, US_NY, False)),
        (
            {"categories": ["supplement"]},
            (BOOK_1, US_NY, False),
            (SEED["TRUEOSTEO-120"], US_NY, False),
        ),
    ],
    ids=["country", "subdivision", "po-box", "not-po-box", "sku", "kind", "category"],
)
def test_a_rule_matches_only_where_every_condition_holds(
    when: dict[str, Any], fails: tuple[Any, ...], holds: tuple[Any, ...]
) -> None:
    rule = compiled(**when)
    assert rule.match(*fails) is False
    assert rule.match(*holds) is True


def test_a_rules_reasons_name_each_products_and_countrys_own_values() -> None:
    rule = compiled()
    values = {f: "" for f in ("country", "country_name", "subdivision", "sku", "max_quantity")}
    a = rule.reason({**values, "product_name": "A", "country": "US"})
    b = rule.reason({**values, "product_name": "B", "country": "US"})
    c = rule.reason({**values, "product_name": "A", "country": "CA"})
    assert [a.message, b.message, c.message] == ["A to US", "B to US", "A to CA"]


def test_a_rule_keeps_its_reasons_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reasons are built once per distinct message values and kept up to the bound; past
    it they are still right, only built again."""
    monkeypatch.setattr(rules_conditions, "RULE_REASONS_LIMIT", 260)
    rule = compiled()
    values = {f: "" for f in ("country_name", "subdivision", "sku", "max_quantity")}
    made = []
    for n in range(300):
        made.append(rule.reason({**values, "product_name": f"P{n}", "country": "US"}))
        assert len(rule.reasons) == min(n + 1, 260)
    assert [r.message for r in made] == [f"P{n} to US" for n in range(300)]
    again = rule.reason({**values, "product_name": "P7", "country": "US"})
    assert again is made[7]


@pytest.mark.parametrize(("count", "shown"), [(8, "A,B,C,D,E,F,G,H"), (9, "A,B,C,D,E,F,G,H...")])
def test_a_traced_rule_describes_at_most_eight_values_of_a_condition(
    count: int, shown: str
) -> None:
    skus = [chr(ord("A") + i) for i in range(count)]
    assert compiled(skus=list(reversed(skus))).describe() == f"skus={shown}"


@pytest.mark.parametrize(
    ("postal", "matches"),
    [("1500", True), ("1000", True), ("1999", True), ("150", False), ("15000", False)],
)
def test_a_postal_range_matches_codes_of_its_own_length_only(postal: str, matches: bool) -> None:
    # Argentina's codes are not fixed-length here; as text "150" and "15000" both sort
    # between "1000" and "1999", and neither is in the range.
    ruleset = Ruleset.model_validate(
        {"rules": [{"id": "f-r", "effect": "forbid", "code": "cf", "message": "m", "source": "t",
                    "when": {"destination": {"postal_codes": {"ranges": [{"from": "1000", "to": "1999"}]}}}}]}
    )  # fmt: skip
    rule = compile_rule(ruleset, ruleset.rules[0])
    assert rule.match(BOOK_1, Destination(country="AR", postal_code=postal), False) is matches


@pytest.mark.parametrize(
    ("op", "below", "at", "above"),
    [
        ("gt", False, False, True),
        ("ge", False, True, True),
        ("lt", True, False, False),
        ("le", True, True, False),
        ("eq", False, True, False),
        ("ne", True, False, True),
    ],
)
@pytest.mark.parametrize("kind", [int, Decimal, str], ids=["int", "decimal", "text"])
def test_a_comparison_holds_below_at_and_above_its_value_as_the_op_says(
    op: str, below: bool, at: bool, above: bool, kind: type
) -> None:
    bound = 20
    results = [compare(op, kind(v), bound) for v in (19, 20, 21)]
    if kind is str and op in ("eq", "ne"):  # text is never equal to a number
        assert results == [op == "ne"] * 3
    else:
        assert results == [below, at, above]


def test_in_tests_membership_and_what_cannot_be_ordered_is_a_rule_error() -> None:
    assert compare("in", "paper", ["paper", "cloth"]) is True
    assert compare("in", "ebook", ["paper", "cloth"]) is False
    for left, right in ((True, 1), (1, True), ("heavy", 5), (Decimal("NaN"), 5), ("NaN", 5)):
        with pytest.raises(rules_conditions.RuleError):
            compare("gt", left, right)


def test_attribute_and_ingredient_ops_decide_the_same_from_a_pickled_ruleset(
    tmp_path: Path,
) -> None:
    """The build artifact is a pickle: its op and unit strings are equal to the schema's
    literals, not the same objects."""
    eng = engine(
        tmp_path,
        """
        - id: f-paper
          effect: forbid
          when: {product: {attributes: [{name: binding, op: eq, value: paper}], categories: [book]}}
          code: cf
          message: f
          source: t
        - id: f-bound
          effect: forbid
          when: {product: {attributes: [{name: binding, op: in, value: [cloth, leather]}], categories: [book]}}
          code: cf
          message: f
          source: t
        - id: f-any-binding
          effect: forbid
          when: {product: {attributes: [{name: binding, op: exists}], categories: [media]}}
          code: cf
          message: f
          source: t
        - id: f-d3
          effect: forbid
          when: {product: {ingredients: [{any_of: [vitamin_d3], op: gt, value: 1000, unit: IU}]}}
          code: cf
          message: f
          source: t
        - id: f-dhea
          effect: forbid
          when: {product: {ingredients: [{any_of: [dhea]}]}}
          code: cf
          message: f
          source: t
        """,
    )
    restored = Engine(pickle.loads(pickle.dumps(eng.ruleset)))
    cases = {
        "f-paper": product("B-1", binding="paper"),
        "f-bound": product("B-2", binding="cloth"),
        "f-any-binding": product("C-1", category="media", binding="spiral"),
        "f-d3": product("S-1", category="supplement", supply_days=30, ingredients={"vitamin_d3": {"amount": 5000, "unit": "IU"}}),
        "f-dhea": product("S-2", category="supplement", supply_days=30, ingredients={"dhea": {}}),
    }  # fmt: skip
    for rule_id, item in cases.items():
        assert [(r.rule_id, r.code) for r in line(restored, item).reasons] == [(rule_id, "cf")]
        assert line(restored, item).reasons == line(eng, item).reasons
    assert line(restored, product("B-3", binding="ebook")).eligible


def test_a_method_offered_from_a_date_is_offered_after_it(tmp_path: Path) -> None:
    eng = engine(
        tmp_path,
        """
        - id: express-from-june
          effect: offer_method
          method: express
          price: {amount: 2000, currency: USD}
          effective_from: 2026-06-01
          code: ce
          message: e
          source: t
        """,
    )
    june = datetime(2026, 6, 1, tzinfo=UTC)
    # A fresh engine per instant: one engine plans a destination once per time bucket.
    for at, offered in (
        (june - timedelta(seconds=1), False),
        (june, True),
        (june + timedelta(days=30), True),
    ):
        fresh = Engine(eng.ruleset)
        assert ("express" in methods(fresh, [CartLine(product(), 1)], at=at)) is offered


def test_going_over_a_limit_never_changes_the_list_other_carts_read() -> None:
    """The memo hands one line's limits to every cart (and, in the local gateway, to
    threads at once): a cart over them reads them, never reorders them (list.sort()
    empties a list meanwhile), and is told the limits it exceeds, smallest first."""
    from bonestore.domain.rules.decision import LineBase, Reason, apply_quantity

    three, one = Reason("three", "limit", "at most 3"), Reason("one", "limit", "at most 1")
    also_one = Reason("also-one", "limit", "at most 1 too")
    shared = [(1, also_one), (1, one), (3, three)]  # as LineBase keeps them: smallest first
    base = LineBase(denials=[], limits=shared, max_quantity=1)
    assert apply_quantity(base, 5) == [also_one, one, three]
    assert shared == [(1, also_one), (1, one), (3, three)] and base.limits is shared
    assert apply_quantity(base, 3) == [also_one, one]
    assert apply_quantity(base, 2) == [also_one, one]
    assert apply_quantity(base, 1) == []
