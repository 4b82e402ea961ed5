from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bonestore.adapters.orders import order_from_record
from bonestore.domain.catalog import seed_catalog
from bonestore.domain.geo import Destination
from bonestore.domain.order import Order
from bonestore.domain.rules import Engine, load_ruleset
from bonestore.domain.rules.diff import diff_decisions, diff_orders, probe_destinations
from bonestore.domain.rules.lint import lint_text
from bonestore.domain.rules.loader import read_ruleset_text
from bonestore.domain.rules.schema import Ruleset

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 31, tzinfo=UTC)
DEFAULT_TEXT, DEFAULT_NAME = read_ruleset_text()


def lint(text: str) -> list[str]:
    return [f"{i.severity}:{i.rule_id}:{i.line}:{i.message}" for i in lint_text(text, "r.yaml")]


def test_default_ruleset_lints_clean() -> None:
    assert lint_text(DEFAULT_TEXT, DEFAULT_NAME) == []


def test_lint_finds_unknown_codes_categories_and_never_matching() -> None:
    text = DEFAULT_TEXT.replace("[US-AS, US-GU", "[US-XX, CA-QC, US-GU")
    text = text.replace("categories: [supplement]", "categories: [supplements]", 1)
    text = text.replace("[RU, BY]", "[RU, BY, XX]")
    found = "\n".join(lint(text))
    assert "'US-XX' is not an ISO 3166-2 subdivision" in found
    assert "never matches: CA-QC is not in the rule's countries" in found
    assert "'XX' is not an ISO 3166-1 alpha-2 country" in found
    assert "unknown category 'supplements'" in found
    line = DEFAULT_TEXT.splitlines().index("  - id: zone-us-territories-excluded") + 1
    assert f"error:zone-us-territories-excluded:{line}:" in found  # file line of the rule


def test_a_rule_may_name_only_listed_ingredients() -> None:
    """A misspelt ingredient would match nothing and let melatonin into Australia."""
    text = DEFAULT_TEXT.replace("- {any_of: [melatonin]}", "- {any_of: [melatonine]}")
    found = lint(text)
    assert len(found) == 1, found
    assert found[0].startswith("error:au-no-melatonin:")
    assert "['melatonine']" in found[0] and "ingredients:" in found[0]


@pytest.mark.parametrize("message", ["to {country_nam}.", "to {country_name!r}.", "a { brace"])
def test_message_placeholders_are_checked_by_the_schema(message: str) -> None:
    found = lint(DEFAULT_TEXT.replace("to {country_name}.", message, 1))
    assert len(found) == 1 and "error:zone-us-physical:" in found[0] and "message" in found[0]


def test_lint_warns_about_unknown_catalog_names() -> None:
    text = """
rules:
  - id: odd
    effect: forbid
    when:
      product:
        skus: [NOPE-1]
        attributes: [{name: colour, op: eq, value: red}]
    code: x_y
    message: m
    source: s
"""
    found = "\n".join(lint(text))
    assert "error:odd:3:SKU 'NOPE-1' is not in the seed catalog" in found
    assert "attribute 'colour' is not used by the seed catalog" in found
    assert "match no product in the seed catalog" in found


def test_lint_postal_ranges_that_can_never_match() -> None:
    text = """
rules:
  - id: ca-range
    effect: forbid
    when:
      destination:
        countries: [CA]
        postal_codes: {ranges: [{from: "83000", to: "87999"}]}
    code: x_y
    message: m
    source: s
"""
    assert any("never matches: postal range 83000-87999" in m for m in lint(text))


def test_lint_reports_schema_errors_with_lines() -> None:
    text = DEFAULT_TEXT.replace(
        "effective_until: 2025-07-01", "effective_until: 2025-07-01\n    effective_from: 2026-01-01"
    )
    found = lint(text)
    assert len(found) == 1 and "effective_until must be after effective_from" in found[0]
    assert ":embargo-syria:" in found[0]
    dup = DEFAULT_TEXT.replace("id: embargo-iran", "id: embargo-cuba")
    assert any("duplicate rule id 'embargo-cuba'" in m for m in lint(dup))


def test_lint_warns_about_overlapping_offers() -> None:
    text = DEFAULT_TEXT.replace(
        "destination: {countries: [EXPRESS_INTERNATIONAL]}",
        "destination: {countries: [EXPRESS_INTERNATIONAL, US]}",
    )
    assert any("the higher price wins" in m for m in lint(text))


def test_lint_warns_about_method_rules_where_the_method_is_not_offered() -> None:
    text = DEFAULT_TEXT.replace(
        "countries: [US]\n        subdivisions: [US-AA, US-AE, US-AP]", "countries: [JP]"
    )
    assert any("express-not-military" in m and "never applies" in m for m in lint(text))


def engine_from(text: str) -> Engine:
    import yaml

    return Engine(Ruleset.model_validate(yaml.safe_load(text)))


def test_probe_destinations_cover_countries_and_named_places() -> None:
    dests = probe_destinations(Engine(load_ruleset()))
    assert Destination(country="CA") in dests
    assert Destination(country="UA", subdivision="UA-43") in dests
    assert Destination(country="UA", postal_code="295000") in dests
    assert Destination(country="US", line1="PO Box 1") in dests


def test_diff_lists_flipped_decisions() -> None:
    old = Engine(load_ruleset())
    new = engine_from(DEFAULT_TEXT.replace("countries: [MX, IN]", "countries: [MX]"))
    flips = diff_decisions(old, new, seed_catalog(), probe_destinations(old, new), NOW)
    assert {(f.sku, f.where) for f in flips} == {
        ("TRUEOSTEO-120", "IN"),
        ("D3K2-60", "IN"),
        ("RESTWELL-60", "IN"),
    }
    assert all(not f.old.eligible and f.new.eligible for f in flips)
    assert "mx-in-no-supplements" in str(flips[0].old)
    assert diff_decisions(old, old, seed_catalog(), probe_destinations(old), NOW) == []


def order(order_id: str, sku: str, qty: int, dest: dict[str, Any] | None, **extra: Any) -> Order:
    """An order as the repository reads it back from DynamoDB (Decimals and all)."""
    product = next(p for p in seed_catalog() if p.sku == sku).model_dump(mode="json")
    product["price"]["amount"] = Decimal(product["price"]["amount"])  # as DynamoDB returns it
    if product.get("stock") is not None:
        product["stock"] = Decimal(product["stock"])
    return order_from_record(
        {
            "order_id": order_id,
            "status": "paid",
            "created_at": "2026-01-30T10:00:00Z",
            "items": [{"sku": sku, "quantity": Decimal(qty), "product": product}],
            "destination": dest,
            **extra,
        }
    )


def test_diff_orders() -> None:
    old = Engine(load_ruleset())
    new = engine_from(DEFAULT_TEXT.replace("max_supply_days: 90", "max_supply_days: 60"))
    unreadable_product = [{"sku": "X", "quantity": 1, "product": {"sku": "X"}}]
    orders = [
        order("o-au", "TRUEOSTEO-120", 3, {"country": "AU"}),
        order("o-us", "TRUEOSTEO-120", 3, {"country": "US"}),
        order("o-none", "ORP-EBOOK", 1, None),
        order("o-bad", "TRUEOSTEO-120", 1, {"country": "AU"}, items=unreadable_product),
        order("o-no-time", "TRUEOSTEO-120", 3, {"country": "AU"}, created_at="yesterday"),
    ]
    changed = diff_orders(old, new, orders)
    by_id = {c.order_id: c for c in changed}
    assert set(by_id) == {"o-au", "o-bad", "o-no-time"}
    assert by_id["o-au"].old and by_id["o-au"].old.eligible
    assert by_id["o-au"].new and not by_id["o-au"].new.eligible
    assert by_id["o-bad"].problem and "validation error" in by_id["o-bad"].problem
    assert by_id["o-bad"].old is None and by_id["o-bad"].new is None
    assert by_id["o-no-time"].problem and "yesterday" in by_id["o-no-time"].problem


def test_diff_orders_at_their_own_time() -> None:
    old = Engine(load_ruleset())
    new = engine_from(
        DEFAULT_TEXT.replace("effective_from: 2013-06-01", "effective_from: 2026-06-01")
    )
    early = order("o-ca", "TRUEOSTEO-120", 1, {"country": "CA"})
    assert [c.order_id for c in diff_orders(old, new, [early])] == ["o-ca"]
    assert diff_orders(old, new, [early], at=datetime(2026, 7, 1, tzinfo=UTC)) == []


def test_diff_orders_replays_the_billing_check_of_paid_orders() -> None:
    """ "which open or recent orders it would have decided differently": ending the Cuba
    embargo flips an order held for its Cuban billing address (shipped to the US), and a
    digital one billed in Crimea by postal code, though neither's destination changes."""
    old = Engine(load_ruleset())
    cuba_ends = DEFAULT_TEXT.replace(
        "      destination: {countries: [CU]}\n",
        "      destination: {countries: [CU]}\n    effective_until: 2026-01-01\n",
    )
    crimea_ends = DEFAULT_TEXT.replace(
        "countries: [UA]\n        postal_codes:", "countries: [MD]\n        postal_codes:"
    )
    assert cuba_ends != DEFAULT_TEXT and crimea_ends != DEFAULT_TEXT
    held = order("o-cu", "BONE-APPETIT-BOOK", 1, {"country": "US"}, billing_country="CU")
    crimea = order(
        "o-ua", "ORP-EBOOK", 1, None,
        billing_country="UA", billing_place={"country": "UA", "postal_code": "95000"},
    )  # fmt: skip
    plain = order("o-us", "BONE-APPETIT-BOOK", 1, {"country": "US"}, billing_country="US")
    [flip] = diff_orders(old, engine_from(cuba_ends), [held, crimea, plain])
    assert (flip.order_id, flip.on) == ("o-cu", "billing CU")
    assert flip.old is not None and flip.old.rule_ids == ("embargo-cuba",)
    assert flip.new is not None and flip.new.eligible
    [flip] = diff_orders(old, engine_from(crimea_ends), [held, crimea, plain])
    assert (flip.order_id, flip.on) == ("o-ua", "billing UA")
    assert flip.old is not None and not flip.old.eligible


def test_lint_checks_have_unique_ids_by_severity() -> None:
    from bonestore.domain.rules.lint import CHECKS

    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    for c in CHECKS:
        assert c.id.startswith("L1" if c.severity == "error" else "L2"), c.id
        assert c.summary


def test_every_finding_names_its_check() -> None:
    text = DEFAULT_TEXT.replace("countries: [MX, IN]", "countries: [MX, XX]")
    found = lint_text(text, "r.yaml")
    assert [(i.check, i.rule_id) for i in found] == [("L102", "mx-in-no-supplements")]
    assert lint_text("rules: [", "r.yaml")[0].check == "L000"


@pytest.mark.parametrize(
    "date",
    [
        "2027-02-30", "2026-13-01", "2026-04-31T00:00:00Z",
        # Real times, but outside the years 1 to 9999 once in UTC.
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    ],
)  # fmt: skip
def test_a_date_no_calendar_has_is_a_finding_on_its_line_not_a_crash(date: str) -> None:
    """YAML reads 2027-02-30 as a date and fails to build it: lint, check, diff and the
    server saw a traceback. It is an L000 error on that line, like any YAML error."""
    text = DEFAULT_TEXT.replace("effective_from: 2013-06-01", f"effective_from: {date}")
    assert text != DEFAULT_TEXT
    [found] = lint_text(text, "r.yaml")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if date in t)
    assert (found.check, found.severity, found.line) == ("L000", "error", line)
    assert date in found.message


@pytest.mark.parametrize(
    ("rule", "sku", "why"),
    [
        ("{id: jp-calcium-cap, effect: forbid, when: {destination: {countries: [JP]}, product:"
         " {ingredients: [{any_of: [calcium], op: gt, value: 1000, unit: mg}]}},"
         " code: cc, message: m, source: s}", "TRUEOSTEO-120", "amount of calcium is unknown"),
        ("{id: jp-melatonin-iu, effect: forbid, when: {destination: {countries: [JP]}, product:"
         " {ingredients: [{any_of: [melatonin], op: gt, value: 1, unit: IU}]}},"
         " code: cc, message: m, source: s}", "RESTWELL-60", "melatonin is in mg, the rule in IU"),
        ("{id: jp-books-supply, effect: limit, max_supply_days: 60, when: {destination:"
         " {countries: [JP]}, product: {categories: [book]}}, code: cc, message: m, source: s}",
         "BONE-APPETIT-BOOK", "no supply_days"),
    ],
)  # fmt: skip
def test_a_rule_that_cannot_judge_a_catalog_product_is_a_warning(
    rule: str, sku: str, why: str
) -> None:
    """It would refuse the product with a rule_error wherever it applies: fail closed, but
    surely not what its author meant, so lint says so before a diff reads it as working."""
    text = DEFAULT_TEXT.replace("\nrules:\n", f"\nrules:\n  - {rule}\n", 1)
    assert text != DEFAULT_TEXT
    found = [i for i in lint_text(text, "r.yaml") if i.check == "L208"]
    assert len(found) == 1 and found[0].severity == "warning"
    assert sku in found[0].message and why in found[0].message
