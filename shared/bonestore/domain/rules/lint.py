"""``bonestore rules lint``: what the schema alone cannot see.

Errors fail the lint (and CI): schema errors, duplicate ids, windows that end
before they start, unknown countries/subdivisions (ISO 3166 via pycountry),
unknown categories, conditions that can never match (message placeholders are
checked by the schema). Warnings flag what may be intended but deserves a look: SKUs,
attributes and ingredients the seed catalog does not know (or, with an ``ingredients:``
list, seed products' ingredients missing from it), product conditions no
seed product meets, overlapping offers for one method, restrictions and surcharges
where their method is never offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bonestore.domain.catalog import CATEGORIES, Product, ProductAttributes, seed_catalog
from bonestore.domain.geo import canonical_postal_code, is_country, subdivision_country
from bonestore.domain.rules.loader import Issue, RulesetError, parse_ruleset, rule_lines
from bonestore.domain.rules.schema import Rule, Ruleset


def _static_match(rule: Rule, product: Product) -> bool:
    cond = rule.when.product
    return (
        (cond.kinds is None or product.kind in cond.kinds)
        and (cond.categories is None or product.category in cond.categories)
        and (cond.skus is None or product.sku in cond.skus)
    )


def lint_text(
    text: str, file: str = "<ruleset>", catalog: Sequence[Product] | None = None
) -> list[Issue]:
    """Every finding for a ruleset file's text (empty: clean)."""
    try:
        ruleset, node = parse_ruleset(text, file)
    except RulesetError as exc:
        return exc.issues
    lines = {rule_id: found[0] for rule_id, found in rule_lines(node).items()}
    return lint_ruleset(ruleset, file, catalog, lines)


def lint_ruleset(
    ruleset: Ruleset,
    file: str = "<ruleset>",
    catalog: Sequence[Product] | None = None,
    lines: dict[str, int] | None = None,
) -> list[Issue]:
    products = tuple(seed_catalog() if catalog is None else catalog)
    lines = lines or {}
    issues: list[Issue] = []

    def add(severity: str, rule: Rule | None, message: str) -> None:
        line = lines.get(rule.id) if rule is not None else None
        issues.append(Issue(severity, file, line, rule.id if rule else None, message))

    for name, codes in ruleset.groups.items():
        for code in codes:
            if len(code) == 2 and not is_country(code):
                add("error", None, f"group {name}: {code!r} is not an ISO 3166-1 alpha-2 country")

    known_attributes = set(ProductAttributes.model_fields) | {
        key for p in products for key in (p.attributes.model_extra or {})
    }
    known_ingredients = set(ruleset.ingredients) or {
        name for p in products for name in p.attributes.ingredients
    }
    if ruleset.ingredients:
        for product in products:
            for name in sorted(set(product.attributes.ingredients) - known_ingredients):
                add(
                    "warning",
                    None,
                    f"product {product.sku}: ingredient {name!r} is not in `ingredients:`, "
                    "so no rule can name it",
                )
    known_skus = {p.sku for p in products}
    used_groups: set[str] = set()

    for rule in ruleset.rules:
        dest, prod = rule.when.destination, rule.when.product
        countries = ruleset.countries_of(rule)
        for entry in dest.countries or []:
            if len(entry) == 2:
                if not is_country(entry):
                    add("error", rule, f"{entry!r} is not an ISO 3166-1 alpha-2 country")
            else:
                used_groups.add(entry)
        for sub in dest.subdivisions or []:
            country = subdivision_country(sub)
            if country is None:
                add("error", rule, f"{sub!r} is not an ISO 3166-2 subdivision (or US-AA/AE/AP)")
            elif countries is not None and country not in countries:
                add("error", rule, f"never matches: {sub} is not in the rule's countries")
        if dest.postal_codes is not None and countries is not None:
            for r in dest.postal_codes.ranges:
                if not any(canonical_postal_code(c, r.from_) for c in countries):
                    add(
                        "error",
                        rule,
                        f"never matches: postal range {r.from_}-{r.to} is not a postal code "
                        f"form of {', '.join(sorted(countries))}",
                    )
        for category in prod.categories or []:
            if category not in CATEGORIES:
                add(
                    "error", rule, f"unknown category {category!r} (known: {', '.join(CATEGORIES)})"
                )
        for sku in prod.skus or []:
            if sku not in known_skus:
                add("warning", rule, f"SKU {sku!r} is not in the seed catalog")
        for test in prod.attributes or []:
            if test.name not in known_attributes:
                add("warning", rule, f"attribute {test.name!r} is not used by the seed catalog")
        for ingredient_test in prod.ingredients or []:
            for name in ingredient_test.any_of:
                if name not in known_ingredients:  # only without `ingredients:` (else schema)
                    add("warning", rule, f"ingredient {name!r} is in no seed catalog product")
        if rule.effect != "offer_method" and not any(_static_match(rule, p) for p in products):
            add("warning", rule, "its product conditions match no product in the seed catalog")

    _overlapping_offers(ruleset, add)
    _methods_never_offered(ruleset, add)
    for name in ruleset.groups:
        if name not in used_groups and not any(name in codes for codes in ruleset.groups.values()):
            add("warning", None, f"group {name} is not used by any rule")
    return sorted(issues, key=lambda i: (i.line or 0, i.severity, i.message))


def _overlapping_offers(ruleset: Ruleset, add: Any) -> None:
    offers = [r for r in ruleset.rules if r.effect == "offer_method"]
    for i, a in enumerate(offers):
        for b in offers[i + 1 :]:
            if (
                a.method != b.method
                or a.when.destination.subdivisions
                or b.when.destination.subdivisions
            ):
                continue
            ca, cb = ruleset.countries_of(a), ruleset.countries_of(b)
            shared = (
                (ca & cb) if ca is not None and cb is not None else (ca or cb or frozenset({"*"}))
            )
            if shared and _windows_overlap(a, b):
                add(
                    "warning",
                    b,
                    f"offers {b.method} where {a.id} does too ({', '.join(sorted(shared)[:5])}): "
                    "the higher price wins",
                )


def _methods_never_offered(ruleset: Ruleset, add: Any) -> None:
    """A restriction or surcharge where its method is never offered can never matter."""
    offered: dict[str, set[str] | None] = {}
    for rule in ruleset.rules:
        if rule.effect == "offer_method" and rule.method is not None:
            countries = ruleset.countries_of(rule)
            known = offered.get(rule.method, set())
            offered[rule.method] = None if countries is None or known is None else known | countries
    for rule in ruleset.rules:
        if rule.effect not in ("restrict_method", "surcharge") or rule.method is None:
            continue
        where = offered.get(rule.method, set())
        countries = ruleset.countries_of(rule)
        if where is None:  # offered everywhere
            continue
        if not (where if countries is None else countries & where):
            add("warning", rule, f"never applies: {rule.method} is not offered where it matches")


def _windows_overlap(a: Rule, b: Rule) -> bool:
    a_from, b_from = a.effective_from, b.effective_from
    a_until, b_until = a.effective_until, b.effective_until
    starts_before_b_ends = b_until is None or a_from is None or a_from < b_until
    b_starts_before_a_ends = a_until is None or b_from is None or b_from < a_until
    return starts_before_b_ends and b_starts_before_a_ends
