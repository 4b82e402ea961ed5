"""Condition matching: whether one rule applies to one line and destination.

Three-valued: a rule applies (True), does not (False), or cannot be evaluated on this
input (:class:`RuleError`). A condition that is definitely false makes the rule not
apply even if another of its conditions errors (docs/rules.md, "Errors deny").
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from bonestore.domain.catalog import Product, ProductAttributes
from bonestore.domain.geo import Destination, canonical_postal_code, compact_postal
from bonestore.domain.money import Money
from bonestore.domain.rules.decision import Reason

if TYPE_CHECKING:
    from bonestore.domain.rules.schema import Rule, Ruleset

_MASS = {"g": Decimal(1_000_000), "mg": Decimal(1000), "mcg": Decimal(1)}
# International units per microgram, for the ingredients whose unit is a fixed mass:
# vitamin D, D2 and D3 alike, 1 mcg = 40 IU (NIH Office of Dietary Supplements, "Vitamin D"
# fact sheet). Other ingredients' IU depend on the form (vitamin A, E) and do not convert.
_IU_PER_MCG = dict.fromkeys(("vitamin_d", "vitamin_d2", "vitamin_d3"), Decimal(40))


def _micrograms(name: str, amount: Decimal, unit: str) -> Decimal | None:
    """``amount`` of ingredient ``name`` in ``unit`` as micrograms; None when it cannot be."""
    if unit in _MASS:
        return amount * _MASS[unit]
    per_mcg = _IU_PER_MCG.get(name) if unit == "IU" else None
    return None if per_mcg is None else amount / per_mcg


class RuleError(Exception):
    """A rule that cannot be evaluated on this input."""


def _ts(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


# Reasons kept per rule, one per distinct set of the values its message names (a tuning
# bound: past it, reasons are built on every call instead of kept).
RULE_REASONS_LIMIT = 10_000
# Destinations' postal codes whose forms are kept (a bounded cache: codes come from input).
POSTAL_FORMS_LIMIT = 4_096


# A rule's conditions as the engine reads them: plain tuples, not the schema's pydantic
# models. The artifact compiled at build time (rules/compiled.py) holds only these, so a
# cold start that loads it never imports the schema (~30 ms of CPU to define its classes,
# even with their validators deferred; measured with bench_rules' layer, issue #14).


class PostalRange(NamedTuple):
    """Inclusive, over the compact code (schema.PostalRange)."""

    from_: str
    to: str


class PostalTest(NamedTuple):
    ranges: tuple[PostalRange, ...]
    patterns: tuple[str, ...]  # regexes, full match on the compact code


class AttributeTest(NamedTuple):
    name: str
    op: str
    value: Any  # None only for ``exists`` (schema)


class IngredientTest(NamedTuple):
    any_of: tuple[str, ...]
    op: str
    value: Decimal | None  # None only for ``present`` (schema)
    unit: str | None


@dataclass(eq=False, slots=True)
class CompiledRule:
    """One rule with its conditions as sets and its window as timestamps."""

    rule_id: str
    code: str
    message: str
    effect: str
    start: float | None
    end: float | None
    countries: frozenset[str] | None
    subdivisions: frozenset[str] | None
    postal: PostalTest | None
    po_box: bool | None
    kinds: frozenset[str] | None
    categories: frozenset[str] | None
    skus: frozenset[str] | None
    attributes: tuple[AttributeTest, ...]
    ingredients: tuple[IngredientTest, ...]
    has_product_conditions: bool
    method: str | None = None
    money: Money | None = None  # offer price / surcharge amount
    free_from: Money | None = None  # an offer's free-shipping threshold
    max_quantity: int | None = None  # limit rules: one of these two
    max_supply_days: int | None = None
    fields: tuple[str, ...] = ()  # placeholders its message uses
    reasons: dict[tuple[str, ...], Reason] = field(default_factory=dict)

    def reason(self, values: dict[str, str]) -> Reason:
        """Its reason for these message values (built once per distinct value set)."""
        key = tuple([values[f] for f in self.fields])
        found = self.reasons.get(key)
        if found is None:
            # Formatted even without placeholders: "{{" in a message means one literal "{".
            # The schema admits only placeholders every caller's values have.
            message = self.message.format_map(values)
            found = Reason(rule_id=self.rule_id, code=self.code, message=message)
            if len(self.reasons) < RULE_REASONS_LIMIT:
                self.reasons[key] = found
        return found

    def active(self, ts: float) -> bool:
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)

    def match(self, product: Product | None, dest: Destination, po: bool) -> bool:
        """Whether the rule applies (product None: its destination conditions only).
        Raises RuleError when that cannot be decided."""
        verdict = self.verdict(product, dest, po)
        if verdict is True or verdict is False:
            return verdict
        raise RuleError(verdict)

    def verdict(self, product: Product | None, dest: Destination, po: bool) -> bool | str:
        """``match`` without the raise, for the engine's hot path (a line meets many rules
        that cannot be told, and a raise costs it a microsecond each): True, False, or why
        it cannot be told, a text. Compare with ``is True`` / ``is False``: a text is
        truthy, and an error read as a match would let a permit through."""
        if self.countries is not None and dest.country not in self.countries:
            return False
        if self.subdivisions is not None and dest.subdivision not in self.subdivisions:
            return False
        if self.po_box is not None and po != self.po_box:
            return False
        if product is not None:
            if self.kinds is not None and product.kind not in self.kinds:
                return False
            if self.categories is not None and product.category not in self.categories:
                return False
            if self.skus is not None and product.sku not in self.skus:
                return False
        # Conditions that may fail to evaluate: a definite False anywhere wins over an error.
        # The first error's message is kept, not the exception: an exception held in a local
        # of the frame it is raised from is a reference cycle (exception -> traceback ->
        # frame -> exception), garbage only the collector frees, hundreds of microseconds
        # later in some other request.
        error: str | None = None
        if self.postal is not None:
            try:
                if not postal_match(self.postal, dest):
                    return False
            except RuleError as exc:
                error = str(exc)
        if product is not None and (self.attributes or self.ingredients):
            verdict = self.product_verdict(product)
            if verdict is False:
                return False
            if verdict is not True:
                error = error or verdict
        return True if error is None else error

    def product_verdict(self, product: Product) -> bool | str:
        """Its attribute and ingredient tests on ``product`` (lint asks it of the catalog):
        True, False, or why they cannot be told. A definite False wins over an error."""
        error: str | None = None
        for attribute in self.attributes:
            try:
                if not attribute_match(attribute, product):
                    return False
            except RuleError as exc:
                error = error or str(exc)
        for ingredient in self.ingredients:
            verdict = ingredient_match(ingredient, product)
            if verdict is False:
                return False
            if verdict is not True:
                error = error or verdict
        return True if error is None else error

    def limit_for(self, product: Product) -> int:
        """A limit rule's maximum quantity for ``product``. Raises RuleError."""
        if self.max_quantity is not None:
            return self.max_quantity
        days = product.attributes.supply_days
        if days is None:
            raise RuleError(f"{product.sku} has no supply_days for a days-supply limit")
        return cast(int, self.max_supply_days) // days  # a limit has one of the two (schema)

    def describe(self) -> str:
        parts = []
        for name in ("countries", "subdivisions", "kinds", "categories", "skus"):
            value = getattr(self, name)
            if value is not None:
                shown = ",".join(sorted(value)[:8])
                parts.append(f"{name}={shown}{'...' if len(value) > 8 else ''}")
        if self.postal is not None:
            parts.append("postal_codes")
        if self.po_box is not None:
            parts.append(f"po_box={self.po_box}")
        if self.attributes:
            parts.append("attributes")
        if self.ingredients:
            parts.append("ingredients")
        return "; ".join(parts) or "always"


@lru_cache(maxsize=POSTAL_FORMS_LIMIT)
def _postal_forms(country: str, code: str) -> tuple[bool, str]:
    """(whether ``code`` is written as ``country``'s canonical form, its compact form).
    Cached: folding a code's digits costs microseconds, and every postal rule a line
    meets asks again for the same destination."""
    return canonical_postal_code(country, code) == code, compact_postal(code)


def postal_match(cond: PostalTest, dest: Destination) -> bool:
    code = dest.postal_code
    if code is None:
        return False
    canonical, compact = _postal_forms(dest.country, code)
    if not canonical:
        raise RuleError(f"postal code {code!r} is not a valid {dest.country} postal code")
    key = compact[:5] if dest.country in ("US", "PR") else compact
    for r in cond.ranges:
        if len(key) == len(r.from_) and r.from_ <= key <= r.to:
            return True
    return any(re.fullmatch(p, compact) for p in cond.patterns)


_ATTRIBUTE_FIELDS = frozenset(ProductAttributes.model_fields)


def attribute_value(product: Product, name: str) -> Any:
    attrs = product.attributes
    if name in _ATTRIBUTE_FIELDS:
        return getattr(attrs, name)
    # The extras' dict itself: ``model_extra`` is a property around it, a call per lookup.
    extra = attrs.__pydantic_extra__
    return extra.get(name) if extra else None


def _is_nan(value: int | Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_nan()


# The ops by what they need: any two values, or two numbers (a text that reads as one).
_EQUALITY: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "in": lambda left, right: left in right,
}
_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def compare(op: str, left: Any, right: Any) -> bool:
    """``left op right``; raises RuleError when the two cannot be ordered (a bool, a text
    that is not a number, NaN)."""
    equality = _EQUALITY.get(op)
    if equality is not None:
        return bool(equality(left, right))
    if isinstance(left, bool) or isinstance(right, bool):
        raise RuleError(f"cannot compare {left!r} {op} {right!r}")
    if not (isinstance(left, int | Decimal) and isinstance(right, int | Decimal)):
        try:
            left, right = Decimal(str(left)), Decimal(str(right))
        except ArithmeticError as exc:
            raise RuleError(f"cannot compare {left!r} {op} {right!r}") from exc
    if _is_nan(left) or _is_nan(right):  # NaN has no order: Decimal raises rather than answer
        raise RuleError(f"cannot compare {left!r} {op} {right!r}")
    return bool(_ORDER[op](left, right))


def attribute_match(test: AttributeTest, product: Product) -> bool:
    value = attribute_value(product, test.name)
    if test.value is None:  # only `exists` takes no value (schema)
        return value is not None
    if value is None:
        raise RuleError(f"{product.sku} has no attribute {test.name!r}")
    return compare(test.op, value, test.value)


# An ingredient test compares two finite Decimals (the schema's value, the product's
# amount): ``compare``'s operators themselves, without its checks for texts, bools and NaN.
_AMOUNT_OPS: dict[str, Callable[[Any, Any], Any]] = {"eq": operator.eq, **_ORDER}


def ingredient_match(test: IngredientTest, product: Product) -> bool | str:
    """True or False; or, when it cannot be told, why (a text: ``match`` raises it as
    the RuleError, once; a rule with many ingredient tests would raise it per test).
    Callers compare with ``is True`` / ``is False``: the text is truthy."""
    ingredients = product.attributes.ingredients
    value, unit = test.value, test.unit
    error: str | None = None
    for name in test.any_of:
        found = ingredients.get(name)
        if found is None:
            continue
        if value is None or unit is None:  # only `present` names neither (schema)
            return True
        if found.amount is None or found.unit is None:
            error = f"{product.sku}: the amount of {name} is unknown"
            continue
        amount: Decimal | None = found.amount
        limit: Decimal | None = value
        if found.unit != unit:  # compared in micrograms, when both can be
            amount = _micrograms(name, found.amount, found.unit)
            limit = _micrograms(name, value, unit)
            if amount is None or limit is None:
                error = f"{product.sku}: {name} is in {found.unit}, the rule in {unit}"
                continue
        try:
            if _AMOUNT_OPS[test.op](amount, limit):
                return True
        except ArithmeticError:  # NaN, which neither side can be (schema, catalog)
            error = f"{product.sku}: cannot compare {amount!r} {test.op} {limit!r}"
    return error if error is not None else False


def compile_rule(ruleset: Ruleset, rule: Rule) -> CompiledRule:
    # The schema only here: compiling is build time's work (or a YAML load's), never the
    # compiled artifact's cold start.
    from bonestore.domain.rules.schema import (
        MESSAGE_FIELDS,
        LimitRule,
        OfferMethodRule,
        SurchargeRule,
        rule_method,
    )

    d, p = rule.when.destination, rule.when.product

    def fs(values: Iterable[str] | None) -> frozenset[str] | None:
        return None if values is None else frozenset(values)

    money = (
        rule.price
        if isinstance(rule, OfferMethodRule)
        else rule.amount
        if isinstance(rule, SurchargeRule)
        else None
    )
    postal = d.postal_codes
    return CompiledRule(
        rule_id=rule.id,
        code=rule.code,
        message=rule.message,
        effect=rule.effect,
        start=_ts(rule.effective_from),
        end=_ts(rule.effective_until),
        countries=ruleset.countries_of(rule),
        subdivisions=fs(d.subdivisions),
        postal=None
        if postal is None
        else PostalTest(
            ranges=tuple(PostalRange(r.from_, r.to) for r in postal.ranges),
            patterns=tuple(postal.patterns),
        ),
        po_box=d.po_box,
        kinds=fs(p.kinds),
        categories=fs(p.categories),
        skus=fs(p.skus),
        attributes=tuple(AttributeTest(a.name, a.op, a.value) for a in p.attributes or ()),
        ingredients=tuple(
            IngredientTest(tuple(i.any_of), i.op, i.value, i.unit) for i in p.ingredients or ()
        ),
        has_product_conditions=p != type(p)(),
        method=rule_method(rule),
        money=money,
        free_from=rule.free_from if isinstance(rule, OfferMethodRule) else None,
        max_quantity=rule.max_quantity if isinstance(rule, LimitRule) else None,
        max_supply_days=rule.max_supply_days if isinstance(rule, LimitRule) else None,
        fields=tuple(
            sorted(
                {f for _, f, _, _ in string.Formatter().parse(rule.message) if f in MESSAGE_FIELDS}
            )
        ),
    )
