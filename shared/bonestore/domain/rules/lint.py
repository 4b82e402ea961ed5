"""``bonestore rules lint``: what the schema alone cannot see, as a registry of small
checks, each with an id (``L1xx`` errors fail the lint and CI; ``L2xx`` warnings flag
what may be intended but deserves a look; ``--strict`` fails on them too).

Schema errors (``L000``) come from loading; message placeholders are checked by the
schema itself. See :data:`CHECKS` for the list, and docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bonestore.domain.catalog import CATEGORIES, Product, ProductAttributes, seed_catalog
from bonestore.domain.geo import canonical_postal_code, is_country, subdivision_country
from bonestore.domain.rules.loader import Issue, RulesetError, parse_ruleset, rule_lines
from bonestore.domain.rules.schema import Rule, Ruleset

if TYPE_CHECKING:
    from bonestore.domain.rules.conditions import CompiledRule

Severity = Literal["error", "warning"]
# (the rule it is about, or None for the ruleset; the message)
Finding = tuple[Rule | None, str]


@dataclass(frozen=True)
class LintContext:
    ruleset: Ruleset
    products: tuple[Product, ...]
    catalog_name: str  # "seed catalog" or "catalog" (the live one)
    known_skus: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "known_skus", frozenset(p.sku for p in self.products))


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    summary: str
    run: Callable[[LintContext], Iterator[Finding]]


CHECKS: list[Check] = []


def check(
    id: str, severity: Severity, summary: str
) -> Callable[
    [Callable[[LintContext], Iterator[Finding]]], Callable[[LintContext], Iterator[Finding]]
]:
    """Registers a lint check under a stable id."""

    def register(
        fn: Callable[[LintContext], Iterator[Finding]],
    ) -> Callable[[LintContext], Iterator[Finding]]:
        assert all(c.id != id for c in CHECKS), f"duplicate lint check id {id}"
        CHECKS.append(Check(id, severity, summary, fn))
        return fn

    return register


# ---------------------------------------------------------------- errors


@check("L101", "error", "group members are ISO 3166-1 alpha-2 countries")
def _group_countries(ctx: LintContext) -> Iterator[Finding]:
    for name, codes in ctx.ruleset.groups.items():
        for code in codes:
            if len(code) == 2 and not is_country(code):
                yield None, f"group {name}: {code!r} is not an ISO 3166-1 alpha-2 country"


@check("L102", "error", "rule countries are ISO 3166-1 alpha-2 countries")
def _rule_countries(ctx: LintContext) -> Iterator[Finding]:
    for rule in ctx.ruleset.rules:
        for entry in rule.when.destination.countries or []:
            if len(entry) == 2 and not is_country(entry):
                yield rule, f"{entry!r} is not an ISO 3166-1 alpha-2 country"


@check("L103", "error", "subdivisions exist and lie in the rule's countries")
def _subdivisions(ctx: LintContext) -> Iterator[Finding]:
    for rule in ctx.ruleset.rules:
        countries = ctx.ruleset.countries_of(rule)
        for sub in rule.when.destination.subdivisions or []:
            country = subdivision_country(sub)
            if country is None:
                yield rule, f"{sub!r} is not an ISO 3166-2 subdivision (or US-AA/AE/AP)"
            elif countries is not None and country not in countries:
                yield rule, f"never matches: {sub} is not in the rule's countries"


@check("L104", "error", "postal ranges are postal codes of the rule's countries")
def _postal_ranges(ctx: LintContext) -> Iterator[Finding]:
    for rule in ctx.ruleset.rules:
        countries = ctx.ruleset.countries_of(rule)
        postal = rule.when.destination.postal_codes
        if postal is None or countries is None:
            continue
        for r in postal.ranges:
            if not any(canonical_postal_code(c, r.from_) for c in countries):
                yield (
                    rule,
                    f"never matches: postal range {r.from_}-{r.to} is not a postal code "
                    f"form of {', '.join(sorted(countries))}",
                )


@check("L105", "error", "categories are the business's categories")
def _categories(ctx: LintContext) -> Iterator[Finding]:
    for rule in ctx.ruleset.rules:
        for category in rule.when.product.categories or []:
            if category not in CATEGORIES:
                yield rule, f"unknown category {category!r} (known: {', '.join(CATEGORIES)})"


@check("L106", "error", "SKUs are in the catalog")
def _skus(ctx: LintContext) -> Iterator[Finding]:
    # An error, not a warning: a misspelt SKU in a forbid lets that product through.
    for rule in ctx.ruleset.rules:
        for sku in rule.when.product.skus or []:
            if sku not in ctx.known_skus:
                yield rule, f"SKU {sku!r} is not in the {ctx.catalog_name}"


# ---------------------------------------------------------------- warnings


def _known_ingredients(ctx: LintContext) -> set[str]:
    return set(ctx.ruleset.ingredients) or {
        name for p in ctx.products for name in p.attributes.ingredients
    }


@check("L201", "warning", "catalog ingredients are in `ingredients:`")
def _catalog_ingredients(ctx: LintContext) -> Iterator[Finding]:
    if not ctx.ruleset.ingredients:
        return
    known = set(ctx.ruleset.ingredients)
    for product in ctx.products:
        for name in sorted(set(product.attributes.ingredients) - known):
            yield (
                None,
                f"product {product.sku}: ingredient {name!r} is not in `ingredients:`, "
                "so no rule can name it",
            )


@check("L202", "warning", "attributes are used by the catalog")
def _attributes(ctx: LintContext) -> Iterator[Finding]:
    known = set(ProductAttributes.model_fields) | {
        key for p in ctx.products for key in (p.attributes.model_extra or {})
    }
    for rule in ctx.ruleset.rules:
        for test in rule.when.product.attributes or []:
            if test.name not in known:
                yield rule, f"attribute {test.name!r} is not used by the {ctx.catalog_name}"


@check("L203", "warning", "ingredients are in some catalog product")
def _ingredients(ctx: LintContext) -> Iterator[Finding]:
    known = _known_ingredients(ctx)
    for rule in ctx.ruleset.rules:
        for test in rule.when.product.ingredients or []:
            for name in test.any_of:
                if name not in known:  # only without `ingredients:` (else a schema error)
                    yield rule, f"ingredient {name!r} is in no {ctx.catalog_name} product"


def _static_match(rule: Rule, product: Product) -> bool:
    cond = rule.when.product
    return (
        (cond.kinds is None or product.kind in cond.kinds)
        and (cond.categories is None or product.category in cond.categories)
        and (cond.skus is None or product.sku in cond.skus)
    )


@check("L204", "warning", "product conditions match some catalog product")
def _matches_some_product(ctx: LintContext) -> Iterator[Finding]:
    for rule in ctx.ruleset.rules:
        if rule.effect != "offer_method" and not any(_static_match(rule, p) for p in ctx.products):
            yield rule, f"its product conditions match no product in the {ctx.catalog_name}"


@check("L208", "warning", "rules can judge the catalog products they meet")
def _judges_every_product(ctx: LintContext) -> Iterator[Finding]:
    """A rule that cannot judge a product (an amount the catalog does not state, units
    that do not convert, a days-supply limit on a product without supply_days) refuses
    it with a rule_error wherever the rule's destination applies: safe, but surely not
    what its author meant, and it reads as the rule working."""
    from bonestore.domain.rules.conditions import compile_rule

    for rule in ctx.ruleset.rules:
        compiled = None
        for product in ctx.products:
            if not _static_match(rule, product):
                continue
            compiled = compiled or compile_rule(ctx.ruleset, rule)
            why = _cannot_judge(compiled, product)
            if why is not None:
                yield rule, f"it cannot judge {product.sku}, so refuses it as a rule_error: {why}"


def _cannot_judge(compiled: CompiledRule, product: Product) -> str | None:
    """Why ``compiled``'s product conditions (or limit) cannot be told for ``product``;
    None when they can (a definite no anywhere is an answer)."""
    from bonestore.domain.rules.conditions import RuleError

    verdict = compiled.product_verdict(product)
    if verdict is False:
        return None
    if verdict is not True:
        return str(verdict)
    if compiled.effect == "limit":
        try:
            compiled.limit_for(product)
        except RuleError as exc:
            return str(exc)
    return None


def _windows_overlap(a: Rule, b: Rule) -> bool:
    a_from, b_from = a.effective_from, b.effective_from
    a_until, b_until = a.effective_until, b.effective_until
    starts_before_b_ends = b_until is None or a_from is None or a_from < b_until
    b_starts_before_a_ends = a_until is None or b_from is None or b_from < a_until
    return starts_before_b_ends and b_starts_before_a_ends


@check("L205", "warning", "no two offers of one method overlap")
def _overlapping_offers(ctx: LintContext) -> Iterator[Finding]:
    ruleset = ctx.ruleset
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
                yield (
                    b,
                    f"offers {b.method} where {a.id} does too ({', '.join(sorted(shared)[:5])}): "
                    "the higher price wins",
                )


@check("L206", "warning", "restrictions and surcharges apply where their method is offered")
def _methods_never_offered(ctx: LintContext) -> Iterator[Finding]:
    ruleset = ctx.ruleset
    offered: dict[str, set[str] | None] = {}
    for rule in ruleset.rules:
        if rule.effect == "offer_method":
            countries = ruleset.countries_of(rule)
            known = offered.get(rule.method, set())
            offered[rule.method] = None if countries is None or known is None else known | countries
    for rule in ruleset.rules:
        if rule.effect not in ("restrict_method", "surcharge"):
            continue
        where = offered.get(rule.method, set())
        if where is None:  # offered everywhere
            continue
        countries = ruleset.countries_of(rule)
        if not (where if countries is None else countries & where):
            yield rule, f"never applies: {rule.method} is not offered where it matches"


@check("L207", "warning", "every group is used")
def _unused_groups(ctx: LintContext) -> Iterator[Finding]:
    ruleset = ctx.ruleset
    used = {e for r in ruleset.rules for e in r.when.destination.countries or [] if len(e) > 2}
    for name in ruleset.groups:
        if name not in used and not any(name in codes for codes in ruleset.groups.values()):
            yield None, f"group {name} is not used by any rule"


# ---------------------------------------------------------------- running


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
    """Runs every registered check; ``catalog`` None: the seed catalog."""
    ctx = LintContext(
        ruleset,
        tuple(seed_catalog() if catalog is None else catalog),
        "seed catalog" if catalog is None else "catalog",
    )
    lines = lines or {}
    issues = [
        Issue(
            c.severity,
            file,
            lines.get(rule.id) if rule is not None else None,
            rule.id if rule is not None else None,
            message,
            c.id,
        )
        for c in CHECKS
        for rule, message in c.run(ctx)
    ]
    return sorted(issues, key=lambda i: (i.line or 0, i.severity, i.message))
