"""A naive reference evaluator of the ruleset semantics, for tests only.

Written from docs/rules.md and docs/policy.md, not from the engine: every rule is read
in file order for every line, with no index, no memo and no precompiled sets, so that
it is easy to check by eye against the documentation. It is deliberately slow. The
property in ``test_rules_reference.py`` holds the engine equal to it.

Each condition evaluates to one of three values, TRUE, FALSE or ERROR (it cannot be
decided on this input); a rule applies when every condition is TRUE, does not apply
when any is FALSE, and errors otherwise (docs/rules.md, "Errors deny").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination, canonical_postal_code, country_name, is_po_box
from bonestore.domain.rules.schema import Rule, Ruleset

TRUE, FALSE, ERROR = "true", "false", "error"

# Milligrams, grams and micrograms convert (in micrograms here); IU only compares with IU.
MICROGRAMS_PER = {"mcg": Decimal(1), "mg": Decimal(1000), "g": Decimal(1_000_000)}
# docs/rules.md: "vitamin D's IU converts at 40 IU per mcg".
IU_PER_MCG = {"vitamin_d": Decimal(40), "vitamin_d2": Decimal(40), "vitamin_d3": Decimal(40)}


def micrograms(name: str, amount: Decimal, unit: str) -> Decimal | None:
    if unit in MICROGRAMS_PER:
        return amount * MICROGRAMS_PER[unit]
    if unit == "IU" and name in IU_PER_MCG:
        return amount / IU_PER_MCG[name]
    return None


@dataclass(frozen=True)
class RefReason:
    rule_id: str
    code: str
    message: str


@dataclass(frozen=True)
class RefLine:
    sku: str
    quantity: int
    eligible: bool
    max_quantity: int | None
    reasons: tuple[RefReason, ...]


@dataclass(frozen=True)
class RefMethod:
    id: str
    name: str
    amount: int
    currency: str


@dataclass(frozen=True)
class RefDecision:
    eligible: bool
    items: tuple[RefLine, ...]
    methods: tuple[RefMethod, ...]


# ---------------------------------------------------------------- conditions


def combine(values: list[str]) -> str:
    """All conditions of one rule: FALSE wins over ERROR, ERROR over TRUE."""
    if FALSE in values:
        return FALSE
    if ERROR in values:
        return ERROR
    return TRUE


def expand_countries(ruleset: Ruleset, entries: list[str]) -> set[str]:
    """A rule's country list with group names replaced by their members (groups nest)."""
    out: set[str] = set()
    pending = list(entries)
    seen: set[str] = set()
    while pending:
        entry = pending.pop()
        if len(entry) == 2:
            out.add(entry)
        elif entry not in seen:
            seen.add(entry)
            pending.extend(ruleset.groups[entry])
    return out


def postal_condition(rule: Rule, dest: Destination) -> str:
    cond = rule.when.destination.postal_codes
    assert cond is not None
    if dest.postal_code is None:
        return FALSE  # an absent field does not match a condition on it
    if canonical_postal_code(dest.country, dest.postal_code) != dest.postal_code:
        return ERROR  # a postal code not valid for its country cannot be judged
    compact = dest.postal_code.upper().replace(" ", "").replace("-", "")
    # US (and Puerto Rico) ranges are on the 5-digit ZIP, not ZIP+4.
    ranged = compact[:5] if dest.country in ("US", "PR") else compact
    for r in cond.ranges:
        if len(r.from_) == len(ranged) and r.from_ <= ranged and ranged <= r.to:
            return TRUE
    for pattern in cond.patterns:
        if re.fullmatch(pattern, compact):
            return TRUE
    return FALSE


def destination_conditions(ruleset: Ruleset, rule: Rule, dest: Destination) -> list[str]:
    d = rule.when.destination
    out = []
    if d.countries is not None:
        out.append(TRUE if dest.country in expand_countries(ruleset, d.countries) else FALSE)
    if d.subdivisions is not None:
        out.append(TRUE if dest.subdivision in d.subdivisions else FALSE)
    if d.postal_codes is not None:
        out.append(postal_condition(rule, dest))
    if d.po_box is not None:
        out.append(TRUE if is_po_box(dest.line1) == d.po_box else FALSE)
    return out


def attribute_of(product: Product, name: str) -> Any:
    if name == "supply_days":
        return product.attributes.supply_days
    if name == "ingredients":
        return product.attributes.ingredients
    return (product.attributes.model_extra or {}).get(name)


def as_number(value: Any) -> Decimal | None:
    """A value an ordering comparison can use, or None (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return None if number.is_nan() else number


def compare(op: str, left: Any, right: Any) -> str:
    if op == "eq":
        return TRUE if left == right else FALSE
    if op == "ne":
        return TRUE if left != right else FALSE
    if op == "in":
        return TRUE if left in right else FALSE
    a, b = as_number(left), as_number(right)
    if a is None or b is None:
        return ERROR  # values that cannot be ordered
    holds = {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
    return TRUE if holds else FALSE


def attribute_condition(test: Any, product: Product) -> str:
    value = attribute_of(product, test.name)
    if test.op == "exists":
        return TRUE if value is not None else FALSE
    if value is None:
        return ERROR  # the rule needs an attribute the product does not state
    return compare(test.op, value, test.value)


def ingredient_condition(test: Any, product: Product) -> str:
    """TRUE when some listed ingredient satisfies the test; ERROR when none does but one
    could not be judged; FALSE otherwise."""
    results = []
    for name in test.any_of:
        found = product.attributes.ingredients.get(name)
        if found is None:
            results.append(FALSE)
        elif test.op == "present":
            results.append(TRUE)
        elif found.amount is None or found.unit is None:
            results.append(ERROR)
        elif found.unit == test.unit:
            results.append(compare(test.op, found.amount, test.value))
        else:
            mcg = micrograms(name, found.amount, found.unit)
            limit = micrograms(name, test.value, test.unit)
            if mcg is None or limit is None:
                results.append(ERROR)  # IU against a mass, but for vitamin D
            else:
                results.append(compare(test.op, mcg, limit))
    if TRUE in results:
        return TRUE
    if ERROR in results:
        return ERROR
    return FALSE


def product_conditions(rule: Rule, product: Product) -> list[str]:
    p = rule.when.product
    out = []
    if p.kinds is not None:
        out.append(TRUE if product.kind in p.kinds else FALSE)
    if p.categories is not None:
        out.append(TRUE if product.category in p.categories else FALSE)
    if p.skus is not None:
        out.append(TRUE if product.sku in p.skus else FALSE)
    for test in p.attributes or []:
        out.append(attribute_condition(test, product))
    for ingredient in p.ingredients or []:
        out.append(ingredient_condition(ingredient, product))
    return out


def active(rule: Rule, at: datetime) -> bool:
    if rule.effective_from is not None and at < rule.effective_from:
        return False
    return not (rule.effective_until is not None and at >= rule.effective_until)


# ---------------------------------------------------------------- lines


def fill(message: str, values: dict[str, str]) -> str:
    return message.format(**values)


def decide_line(
    ruleset: Ruleset,
    product: Product,
    quantity: int,
    total_quantity: int,
    dest: Destination,
    at: datetime,
) -> RefLine:
    values = {
        "country": dest.country,
        "country_name": country_name(dest.country),
        "subdivision": dest.subdivision or "",
        "sku": product.sku,
        "product_name": product.name,
        "max_quantity": "",
    }
    permitted = False
    forbids_and_errors: list[RefReason] = []
    defaults: list[RefReason] = []
    limits: list[tuple[int, RefReason]] = []
    for rule in ruleset.rules:
        if rule.effect not in ("permit", "forbid", "limit", "default"):
            continue
        if not active(rule, at):
            continue
        result = combine(
            destination_conditions(ruleset, rule, dest) + product_conditions(rule, product)
        )
        limit = None
        if result == TRUE and rule.effect == "limit":
            if rule.max_quantity is not None:
                limit = rule.max_quantity
            elif product.attributes.supply_days is None:
                result = ERROR  # a days-supply limit on a product without supply_days
            else:
                assert rule.max_supply_days is not None
                limit = rule.max_supply_days // product.attributes.supply_days
        if result == FALSE:
            continue
        if result == ERROR:
            forbids_and_errors.append(
                RefReason(
                    rule.id,
                    "rule_error",
                    f"We can't confirm that {product.name} may ship to "
                    f"{values['country_name']} right now; please contact support.",
                )
            )
        elif rule.effect == "permit":
            permitted = True
        elif rule.effect == "forbid":
            forbids_and_errors.append(RefReason(rule.id, rule.code, fill(rule.message, values)))
        elif rule.effect == "default":
            defaults.append(RefReason(rule.id, rule.code, fill(rule.message, values)))
        else:
            assert limit is not None
            message = fill(rule.message, {**values, "max_quantity": str(limit)})
            limits.append((limit, RefReason(rule.id, rule.code, message)))

    # A product naming an ingredient the declared vocabulary does not: no rule can judge
    # it, so it errors like a rule that cannot be evaluated (fails closed).
    unknown = set(product.attributes.ingredients) - set(ruleset.ingredients)
    if ruleset.ingredients and unknown:
        forbids_and_errors.append(
            RefReason(
                "unknown-ingredient",
                "rule_error",
                f"We can't confirm that {product.name} may ship to "
                f"{values['country_name']} right now; please contact support.",
            )
        )
    reasons = sorted(forbids_and_errors, key=lambda r: (r.rule_id, r.code))
    if not permitted and not reasons:
        reasons = sorted(defaults, key=lambda r: r.rule_id) or [
            RefReason(
                "default-deny",
                "not_permitted",
                f"Nothing permits shipping {product.name} to {values['country_name']}.",
            )
        ]
    max_quantity = min((n for n, _ in limits), default=None)
    exceeded = sorted(
        ((n, r) for n, r in limits if total_quantity > n), key=lambda x: (x[0], x[1].rule_id)
    )
    reasons = reasons + [r for _, r in exceeded]
    return RefLine(product.sku, quantity, not reasons, max_quantity, tuple(reasons))


# ---------------------------------------------------------------- methods


def decide_methods(
    ruleset: Ruleset, lines: list[tuple[Product, int]], dest: Destination, at: datetime
) -> tuple[RefMethod, ...]:
    physical = [(p, q) for p, q in lines if p.kind == "physical"]
    if not physical:
        return ()
    offers: dict[str, Rule] = {}
    withdrawn: set[str] = set()
    extra: dict[str, int] = {}
    for rule in ruleset.rules:
        if rule.effect not in ("offer_method", "restrict_method", "surcharge"):
            continue
        if not active(rule, at):
            continue
        assert rule.method is not None
        where = destination_conditions(ruleset, rule, dest)
        has_product_conditions = rule.when.product != type(rule.when.product)()
        if rule.effect == "restrict_method" and has_product_conditions:
            # Withdrawn when any physical line matches; one that cannot be judged counts.
            per_line = [combine(where + product_conditions(rule, p)) for p, _ in physical]
            if TRUE in per_line or ERROR in per_line:
                withdrawn.add(rule.method)
            continue
        result = combine(where)
        if result == FALSE:
            continue
        if rule.effect == "offer_method":
            if result == ERROR:
                continue  # an offer that cannot be judged is not made
            assert rule.price is not None
            best = offers.get(rule.method)
            if best is None or (rule.price.amount, rule.id) > (best.price.amount, best.id):  # type: ignore[union-attr]
                offers[rule.method] = rule  # the higher price wins
        elif rule.effect == "restrict_method" or result == ERROR:
            withdrawn.add(rule.method)  # a surcharge that cannot be judged withdraws too
        else:
            assert rule.amount is not None
            extra[rule.method] = extra.get(rule.method, 0) + rule.amount.amount
    out = []
    for method in ruleset.methods:  # display order
        if method not in offers or method in withdrawn:
            continue
        offer = offers[method]
        assert offer.price is not None
        amount = offer.price.amount
        if offer.free_from is not None:
            currencies = {p.price.currency for p, _ in physical}
            subtotal = sum(p.price.amount * q for p, q in physical)
            if currencies == {offer.free_from.currency} and subtotal >= offer.free_from.amount:
                amount = 0
        amount += extra.get(method, 0)
        out.append(RefMethod(method, ruleset.methods[method].name, amount, offer.price.currency))
    return tuple(out)


def decide(
    ruleset: Ruleset, lines: list[tuple[Product, int]], dest: Destination, at: datetime
) -> RefDecision:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    totals: dict[str, int] = {}
    for product, quantity in lines:
        totals[product.sku] = totals.get(product.sku, 0) + quantity
    items = tuple(
        decide_line(ruleset, product, quantity, totals[product.sku], dest, at)
        for product, quantity in lines
    )
    return RefDecision(
        all(i.eligible for i in items), items, decide_methods(ruleset, lines, dest, at)
    )
