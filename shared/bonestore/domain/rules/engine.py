"""The rules engine: compile a ruleset into an index once, decide carts fast.

Semantics (docs/rules.md): rule order never matters. A line is eligible only if a
``permit`` rule matches it, no ``forbid`` rule matches it, and its quantity is
within every matching ``limit``. A rule that cannot be evaluated (missing
attribute, unknown amount, bad data) denies the line with code ``rule_error``,
whatever its effect. Conditions combine with three-valued logic: a condition that
is definitely false makes the rule not apply, even if another one errors.
"""

from __future__ import annotations

import bisect
import operator
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from bonestore.domain.catalog import Product, ProductAttributes
from bonestore.domain.geo import (
    Destination,
    canonical_postal_code,
    compact_postal,
    country_name,
    is_po_box,
)
from bonestore.domain.money import Money
from bonestore.domain.rules.schema import (
    MESSAGE_FIELDS,
    AttributeTest,
    IngredientTest,
    PostalCondition,
    ProductCondition,
    Rule,
    Ruleset,
)

RULE_ERROR = "rule_error"
NO_PERMIT_ID = "default-deny"
NO_PERMIT_CODE = "not_permitted"
_MASS = {"g": Decimal(1_000_000), "mg": Decimal(1000), "mcg": Decimal(1)}
_MEMO_LIMIT = 200_000


class Reason(BaseModel):
    """Why a line is (in)eligible; ``message`` is customer-facing."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class CartLine:
    product: Product
    quantity: int


@dataclass(slots=True)
class LineDecision:
    sku: str
    quantity: int
    eligible: bool
    max_quantity: int | None
    reasons: list[Reason]
    trace: list[dict[str, Any]] | None = None

    def to_json(self, *, include_trace: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sku": self.sku,
            "quantity": self.quantity,
            "eligible": self.eligible,
            "max_quantity": self.max_quantity,
            "reasons": [r.as_json() for r in self.reasons],
        }
        if include_trace:
            out["trace"] = self.trace or []
        return out


@dataclass(frozen=True, slots=True)
class ShippingMethodQuote:
    id: str
    name: str
    price: Money

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price.as_json()}


@dataclass(slots=True)
class CartDecision:
    eligible: bool
    ruleset_version: str
    at: datetime  # the point in time decided for (UTC)
    destination: Destination
    items: list[LineDecision]
    shipping_methods: list[ShippingMethodQuote] = field(default_factory=list)

    @property
    def evaluated_at(self) -> str:
        """``at`` as ISO-8601 UTC with a ``Z`` (formatted on demand: it is not free)."""
        return iso_utc(self.at)

    def to_json(self, *, include_trace: bool = False) -> dict[str, Any]:
        """The contract's ``POST /eligibility`` 200 body (+ ``trace`` per line when asked)."""
        return {
            "eligible": self.eligible,
            "ruleset_version": self.ruleset_version,
            "evaluated_at": self.evaluated_at,
            "destination": self.destination.as_json(),
            "items": [item.to_json(include_trace=include_trace) for item in self.items],
            "shipping_methods": [m.to_json() for m in self.shipping_methods],
        }


class _RuleError(Exception):
    """A rule that cannot be evaluated on this input."""


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def iso_utc(at: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; microseconds only when there are some."""
    at = at.astimezone(UTC)
    spec = "microseconds" if at.microsecond else "seconds"
    return at.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


# ---------------------------------------------------------------- compiled rules


@dataclass(eq=False, slots=True)
class _Compiled:
    rule: Rule
    effect: str
    start: float | None
    end: float | None
    countries: frozenset[str] | None
    subdivisions: frozenset[str] | None
    postal: PostalCondition | None
    po_box: bool | None
    kinds: frozenset[str] | None
    categories: frozenset[str] | None
    skus: frozenset[str] | None
    attributes: tuple[AttributeTest, ...]
    ingredients: tuple[IngredientTest, ...]
    money: Money | None = None  # offer price / surcharge amount
    fields: tuple[str, ...] = ()  # placeholders its message uses
    reasons: dict[tuple[str, ...], Reason] = field(default_factory=dict)

    def reason(self, values: dict[str, str]) -> Reason:
        """Its reason for these message values (built once per distinct value set)."""
        key = tuple([values[f] for f in self.fields])
        found = self.reasons.get(key)
        if found is None:
            rule = self.rule
            # Formatted even without placeholders: "{{" in a message means one literal "{".
            message = rule.message.format_map(_Values(values))
            found = Reason.model_construct(rule_id=rule.id, code=rule.code, message=message)
            if len(self.reasons) < 10_000:
                self.reasons[key] = found
        return found

    def active(self, ts: float) -> bool:
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)

    def match(self, product: Product | None, dest: Destination, po: bool) -> bool:
        """Whether the rule applies. Raises _RuleError when that cannot be decided."""
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
        if self.postal is None and (product is None or not (self.attributes or self.ingredients)):
            return True
        # Conditions that may fail to evaluate: a definite False anywhere wins over an error.
        error: _RuleError | None = None
        if self.postal is not None:
            try:
                if not _postal_match(self.postal, dest):
                    return False
            except _RuleError as exc:
                error = exc
        if product is not None:
            for attribute in self.attributes:
                try:
                    if not _attribute_match(attribute, product):
                        return False
                except _RuleError as exc:
                    error = error or exc
            for ingredient in self.ingredients:
                try:
                    if not _ingredient_match(ingredient, product):
                        return False
                except _RuleError as exc:
                    error = error or exc
        if error is not None:
            raise error
        return True


def _postal_match(cond: PostalCondition, dest: Destination) -> bool:
    code = dest.postal_code
    if code is None:
        return False
    if canonical_postal_code(dest.country, code) != code:
        raise _RuleError(f"postal code {code!r} is not a valid {dest.country} postal code")
    compact = compact_postal(code)
    key = compact[:5] if dest.country in ("US", "PR") else compact
    for r in cond.ranges:
        if len(key) == len(r.from_) and r.from_ <= key <= r.to:
            return True
    return any(re.fullmatch(p, compact) for p in cond.patterns)


_ATTRIBUTE_FIELDS = frozenset(ProductAttributes.model_fields)


def _attribute_value(product: Product, name: str) -> Any:
    attrs = product.attributes
    if name in _ATTRIBUTE_FIELDS:
        return getattr(attrs, name)
    extra = attrs.model_extra
    return extra.get(name) if extra else None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "in":
        return bool(left in right)
    if isinstance(left, bool) or isinstance(right, bool):
        raise _RuleError(f"cannot compare {left!r} {op} {right!r}")
    if isinstance(left, int | Decimal) and isinstance(right, int | Decimal):
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    try:
        lhs, rhs = Decimal(str(left)), Decimal(str(right))
    except ArithmeticError as exc:
        raise _RuleError(f"cannot compare {left!r} {op} {right!r}") from exc
    if lhs.is_nan() or rhs.is_nan():  # NaN has no order: Decimal raises rather than answer
        raise _RuleError(f"cannot compare {left!r} {op} {right!r}")
    return {"gt": lhs > rhs, "ge": lhs >= rhs, "lt": lhs < rhs, "le": lhs <= rhs}[op]


def _attribute_match(test: AttributeTest, product: Product) -> bool:
    value = _attribute_value(product, test.name)
    if test.op == "exists":
        return value is not None
    if value is None:
        raise _RuleError(f"{product.sku} has no attribute {test.name!r}")
    return _compare(test.op, value, test.value)


def _ingredient_match(test: IngredientTest, product: Product) -> bool:
    ingredients = product.attributes.ingredients
    error: _RuleError | None = None
    for name in test.any_of:
        found = ingredients.get(name)
        if found is None:
            continue
        if test.op == "present":
            return True
        if found.amount is None or found.unit is None:
            error = _RuleError(f"{product.sku}: the amount of {name} is unknown")
            continue
        amount = found.amount
        if found.unit != test.unit:
            if found.unit in _MASS and test.unit in _MASS:
                amount = amount * _MASS[found.unit] / _MASS[test.unit]
            else:
                error = _RuleError(
                    f"{product.sku}: {name} is in {found.unit}, the rule in {test.unit}"
                )
                continue
        if _compare(test.op, amount, test.value):
            return True
    if error is not None:
        raise error
    return False


def _compile(ruleset: Ruleset, rule: Rule) -> _Compiled:
    d, p = rule.when.destination, rule.when.product

    def fs(values: Iterable[str] | None) -> frozenset[str] | None:
        return None if values is None else frozenset(values)

    return _Compiled(
        rule=rule,
        effect=rule.effect,
        start=_ts(rule.effective_from),
        end=_ts(rule.effective_until),
        countries=ruleset.countries_of(rule),
        subdivisions=fs(d.subdivisions),
        postal=d.postal_codes,
        po_box=d.po_box,
        kinds=fs(p.kinds),
        categories=fs(p.categories),
        skus=fs(p.skus),
        attributes=tuple(p.attributes or ()),
        ingredients=tuple(p.ingredients or ()),
        money=rule.price if rule.effect == "offer_method" else rule.amount,
        fields=tuple(
            sorted(
                {f for _, f, _, _ in string.Formatter().parse(rule.message) if f in MESSAGE_FIELDS}
            )
        ),
    )


class _Bucket:
    """Rules of one country (or of every country), indexed by their most selective product key."""

    __slots__ = ("by_attribute", "by_category", "by_ingredient", "by_kind", "by_sku", "rest")

    def __init__(self) -> None:
        self.by_sku: dict[str, list[_Compiled]] = {}
        # A rule whose first ingredient test names ingredients can only match a product that
        # has one of them (an absent ingredient is a definite "no", never an error).
        self.by_ingredient: dict[str, list[_Compiled]] = {}
        # A rule whose first attribute test is ``eq``: attribute name -> value -> rules. A
        # product without the attribute gets all of them (they must report rule_error).
        self.by_attribute: dict[str, dict[Any, list[_Compiled]]] = {}
        self.by_category: dict[str, list[_Compiled]] = {}
        self.by_kind: dict[str, list[_Compiled]] = {}
        self.rest: list[_Compiled] = []

    def add(self, c: _Compiled) -> None:
        first_attribute = c.attributes[0] if c.attributes else None
        if c.skus is not None:
            for sku in c.skus:
                self.by_sku.setdefault(sku, []).append(c)
        elif c.ingredients:
            for name in c.ingredients[0].any_of:
                self.by_ingredient.setdefault(name, []).append(c)
        elif (
            first_attribute is not None
            and first_attribute.op == "eq"
            and isinstance(first_attribute.value, str | int | Decimal)
        ):
            values = self.by_attribute.setdefault(first_attribute.name, {})
            values.setdefault(first_attribute.value, []).append(c)
        elif c.categories is not None:
            for cat in c.categories:
                self.by_category.setdefault(cat, []).append(c)
        elif c.kinds is not None:
            for kind in c.kinds:
                self.by_kind.setdefault(kind, []).append(c)
        else:
            self.rest.append(c)

    def candidates(self, product: Product, out: list[_Compiled]) -> bool:
        """Adds the rules that can apply to ``product``; True if some may be repeated."""
        out += self.rest
        for found in (
            self.by_kind.get(product.kind),
            self.by_category.get(product.category),
            self.by_sku.get(product.sku),
        ):
            if found:
                out += found
        repeats = False
        if self.by_ingredient:
            hits = 0
            for name in product.attributes.ingredients:
                found = self.by_ingredient.get(name)
                if found:
                    out += found
                    hits += 1
            repeats = hits > 1
        for name, by_value in self.by_attribute.items():
            value = _attribute_value(product, name)
            if value is None:
                for rules in by_value.values():
                    out += rules
            else:
                try:
                    found = by_value.get(value)
                except TypeError:  # an unhashable attribute value: consider them all
                    for rules in by_value.values():
                        out += rules
                    continue
                if found:
                    out += found
        return repeats


@dataclass(slots=True)
class _LineBase:
    """The quantity-independent part of a line's decision (what the memo keeps)."""

    denials: list[Reason]  # forbids, rule errors, or "nothing permits"
    limits: list[tuple[int, Reason]]  # (max quantity, reason), smallest first
    max_quantity: int | None
    trace: list[dict[str, Any]] | None = None


_MethodPlan = list[tuple[str, Rule, int, list["_Compiled"]]]
_REASON_ORDER = operator.attrgetter("rule_id", "code")
_STEP_ORDER = operator.itemgetter("rule_id")


def _limit_order(item: tuple[int, Reason]) -> tuple[int, str]:
    return (item[0], item[1].rule_id)


_NO_PRODUCT_CONDITION = ProductCondition()


@cache
def all_countries() -> tuple[str, ...]:
    import pycountry

    return tuple(sorted(c.alpha_2 for c in pycountry.countries))


class Engine:
    """Decides carts against one ruleset. Build once per cold start; ``decide`` is pure."""

    def __init__(self, ruleset: Ruleset, *, memo_size: int = _MEMO_LIMIT) -> None:
        self.ruleset = ruleset
        self.version = ruleset.version
        self._memo_size = memo_size
        self._memo: dict[tuple[int, int, int], _LineBase] = {}
        self._pkeys: dict[int, tuple[Product, int]] = {}
        self._pcontent: dict[str, int] = {}
        self._global = _Bucket()
        self._by_country: dict[str, _Bucket] = {}
        self._method_global: list[_Compiled] = []
        self._method_by_country: dict[str, list[_Compiled]] = {}
        self._postal_countries: set[str] = set()
        self._po_countries: set[str] = set()
        self._postal_everywhere = self._po_everywhere = False
        self._method_order = {m: i for i, m in enumerate(ruleset.methods)}
        self._quotes: dict[tuple[str, int, str], ShippingMethodQuote] = {}
        self._plans: dict[tuple[int, int], _MethodPlan] = {}
        self._dkeys: dict[int, tuple[Destination, tuple[int, bool]]] = {}
        self._dcontent: dict[tuple[Any, ...], int] = {}
        boundaries: set[float] = set()
        for rule in ruleset.rules:
            c = _compile(ruleset, rule)
            boundaries.update(t for t in (c.start, c.end) if t is not None)
            countries = c.countries
            if c.postal is not None:
                if countries is None:
                    self._postal_everywhere = True
                else:
                    self._postal_countries |= countries
            if c.po_box is not None:
                if countries is None:
                    self._po_everywhere = True
                else:
                    self._po_countries |= countries
            if rule.effect in ("offer_method", "restrict_method", "surcharge"):
                if countries is None:
                    self._method_global.append(c)
                else:
                    for cc in countries:
                        self._method_by_country.setdefault(cc, []).append(c)
            elif countries is None:
                self._global.add(c)
            else:
                for cc in countries:
                    self._by_country.setdefault(cc, _Bucket()).add(c)
        self._boundaries = sorted(boundaries)

    # ------------------------------------------------------------ keys and memo

    def _product_key(self, product: Product) -> int:
        """A small int standing for the product's rule-relevant content (SKU, name, kind,
        category, attributes): equal content, equal key, whichever object carries it."""
        entry = self._pkeys.get(id(product))
        if entry is not None and entry[0] is product:
            return entry[1]
        content = product.model_dump_json(include={"sku", "name", "kind", "category", "attributes"})
        key = self._pcontent.setdefault(content, len(self._pcontent))
        if len(self._pkeys) >= 10_000:
            self._pkeys.clear()
        self._pkeys[id(product)] = (product, key)
        return key

    def _dest_key(self, dest: Destination) -> tuple[int, bool]:
        """(a small int standing for the destination fields any rule can look at, and only
        those; whether its first line is a PO box where a rule asks)."""
        country = dest.country
        postal = (
            dest.postal_code
            if self._postal_everywhere or country in self._postal_countries
            else None
        )
        po = (
            is_po_box(dest.line1) if self._po_everywhere or country in self._po_countries else False
        )
        fields = (country, dest.subdivision, postal, po)
        interned = self._dcontent.get(fields)
        if interned is None:
            if len(self._dcontent) >= 100_000:  # ids restart: forget what used them
                self._dcontent.clear()
                self._dkeys.clear()
                self._plans.clear()
                self._memo.clear()
            interned = self._dcontent[fields] = len(self._dcontent)
        return (interned, po)

    # ------------------------------------------------------------ evaluation

    def _candidates(self, product: Product, country: str) -> list[_Compiled]:
        found: list[_Compiled] = []
        repeats = self._global.candidates(product, found)
        bucket = self._by_country.get(country)
        if bucket is not None:
            repeats = bucket.candidates(product, found) or repeats
        return list(dict.fromkeys(found)) if repeats else found

    def _evaluate(
        self, product: Product, dest: Destination, po: bool, ts: float, *, trace: bool
    ) -> _LineBase:
        values = {
            "country": dest.country,
            "country_name": country_name(dest.country),
            "subdivision": dest.subdivision or "",
            "sku": product.sku,
            "product_name": product.name,
            "max_quantity": "",
        }
        permitted = False
        denials: list[Reason] = []
        defaults: list[Reason] = []
        limits: list[tuple[int, Reason]] = []
        steps: list[dict[str, Any]] | None = [] if trace else None
        for c in self._candidates(product, dest.country):
            rule = c.rule
            if (c.start is not None and ts < c.start) or (c.end is not None and ts >= c.end):
                if steps is not None:
                    steps.append(_step(rule, "inactive", "outside its effective window"))
                continue
            try:
                matched = c.match(product, dest, po)
                limit = _limit_of(rule, product) if matched and c.effect == "limit" else None
            except _RuleError as exc:
                denials.append(_error_reason(rule, values))
                if steps is not None:
                    steps.append(_step(rule, "error", str(exc)))
                continue
            if steps is not None:
                steps.append(_step(rule, "match" if matched else "no_match", _describe(c)))
            if not matched:
                continue
            if c.effect == "permit":
                permitted = True
            elif c.effect == "forbid":
                denials.append(c.reason(values))
            elif c.effect == "default":
                defaults.append(c.reason(values))
            elif limit is not None:
                limits.append((limit, c.reason({**values, "max_quantity": str(limit)})))
        if not permitted and not denials:
            denials = sorted(defaults, key=lambda r: r.rule_id) or [
                Reason(
                    rule_id=NO_PERMIT_ID,
                    code=NO_PERMIT_CODE,
                    message=f"Nothing permits shipping {product.name} to "
                    f"{country_name(dest.country)}.",
                )
            ]
        if len(limits) > 1:
            limits.sort(key=_limit_order)
        if len(denials) > 1:
            denials.sort(key=_REASON_ORDER)
        if steps is not None:
            steps.sort(key=_STEP_ORDER)
        return _LineBase(
            denials=denials,
            limits=limits,
            max_quantity=limits[0][0] if limits else None,
            trace=steps,
        )

    # ------------------------------------------------------------ public API

    def decide(
        self,
        lines: Sequence[CartLine],
        destination: Destination,
        at: datetime | None = None,
        *,
        trace: bool = False,
    ) -> CartDecision:
        """The decision for a cart shipped to ``destination`` at ``at`` (default: now, UTC)."""
        if at is None:
            at = datetime.now(UTC)
        elif at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        elif at.utcoffset():
            at = at.astimezone(UTC)
        ts = at.timestamp()
        bucket = bisect.bisect_right(self._boundaries, ts)
        cached = self._dkeys.get(id(destination))
        if cached is not None and cached[0] is destination:
            dkey = cached[1]
        else:
            dkey = self._dest_key(destination)
            if len(self._dkeys) >= 10_000:
                self._dkeys.clear()
            self._dkeys[id(destination)] = (destination, dkey)
        did, po = dkey
        totals: dict[str, int] | None = None
        if len(lines) > 1 and len({line.product.sku for line in lines}) != len(lines):
            # limits count a product across its lines
            totals = {}
            for line in lines:
                totals[line.product.sku] = totals.get(line.product.sku, 0) + line.quantity
        memo = self._memo if self._memo_size > 0 and not trace else None
        pkeys = self._pkeys
        items: list[LineDecision] = []
        all_ok = True
        for line in lines:
            product = line.product
            if memo is None:
                base = self._evaluate(product, destination, po, ts, trace=trace)
            else:
                entry = pkeys.get(id(product))
                pkey = entry[1] if entry is not None and entry[0] is product else None
                key = (self._product_key(product) if pkey is None else pkey, did, bucket)
                base = memo.get(key)  # type: ignore[assignment]
                if base is None:
                    base = self._evaluate(product, destination, po, ts, trace=False)
                    if len(memo) >= self._memo_size:
                        memo.clear()
                        if len(self._pcontent) >= self._memo_size:  # bound it too
                            self._pcontent.clear()
                            self._pkeys.clear()
                    memo[key] = base
            quantity = line.quantity if totals is None else totals[product.sku]
            reasons = base.denials
            limit = base.max_quantity
            if limit is not None and quantity > limit:
                reasons = reasons + [r for n, r in base.limits if quantity > n]
            ok = not reasons
            if not ok:
                all_ok = False
            items.append(
                LineDecision(
                    product.sku,
                    line.quantity,
                    ok,
                    limit,
                    list(reasons) if reasons else [],
                    base.trace,
                )
            )
        return CartDecision(
            eligible=all_ok,
            ruleset_version=self.version,
            at=at,
            destination=destination,
            items=items,
            shipping_methods=self._methods(lines, destination, dkey, bucket, ts),
        )

    def _method_plan(self, dest: Destination, po: bool, ts: float) -> _MethodPlan:
        """The methods a destination gets at a time, before looking at the cart."""
        rules = self._method_global + self._method_by_country.get(dest.country, [])
        offers: dict[str, _Compiled] = {}
        restricted: set[str] = set()
        by_product: dict[str, list[_Compiled]] = {}
        surcharges: dict[str, list[Money]] = {}
        for c in rules:
            if not c.active(ts):
                continue
            method = c.rule.method
            assert method is not None
            try:
                matched = c.match(None, dest, po)
            except _RuleError:
                # A restriction or surcharge that cannot be evaluated removes the method
                # (fails closed); an offer that cannot be evaluated is not made. A restriction
                # with product conditions is judged per line: a definitely false product
                # condition beats the error.
                if c.effect == "restrict_method" and c.rule.when.product != _NO_PRODUCT_CONDITION:
                    by_product.setdefault(method, []).append(c)
                elif c.effect != "offer_method":
                    restricted.add(method)
                continue
            if not matched:
                continue
            if c.effect == "restrict_method":
                if c.rule.when.product == _NO_PRODUCT_CONDITION:
                    restricted.add(method)
                else:
                    by_product.setdefault(method, []).append(c)
            elif c.effect == "offer_method":
                best = offers.get(method)
                if best is None or _offer_order(c) > _offer_order(best):
                    offers[method] = c
            else:
                assert c.money is not None
                surcharges.setdefault(method, []).append(c.money)
        plan: list[tuple[str, Rule, int, list[_Compiled]]] = []
        for method in sorted(offers, key=lambda m: self._method_order.get(m, 99)):
            if method in restricted:
                continue
            offer = offers[method].rule
            assert offer.price is not None
            extra = sum(
                m.amount for m in surcharges.get(method, []) if m.currency == offer.price.currency
            )
            plan.append((method, offer, extra, by_product.get(method, [])))
        return plan

    def _methods(
        self,
        lines: Sequence[CartLine],
        dest: Destination,
        dkey: tuple[int, bool],
        bucket: int,
        ts: float,
    ) -> list[ShippingMethodQuote]:
        physical = [line for line in lines if line.product.kind == "physical"]
        if not physical:
            return []
        key = (dkey[0], bucket)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._method_plan(dest, dkey[1], ts)
            if len(self._plans) >= 10_000:
                self._plans.clear()
            self._plans[key] = plan
        quotes = []
        subtotals: dict[str, int] | None = None  # physical goods, per currency
        for method, offer, extra, by_product in plan:
            if by_product and any(
                _safe_match(c, line.product, dest, dkey[1]) for c in by_product for line in physical
            ):
                continue
            assert offer.price is not None
            amount = offer.price.amount
            free = offer.free_from
            if free is not None:
                if subtotals is None:
                    subtotals = {}
                    for line in physical:
                        price = line.product.price
                        subtotals[price.currency] = (
                            subtotals.get(price.currency, 0) + price.amount * line.quantity
                        )
                # Free only when every physical line is priced in the threshold's currency.
                if len(subtotals) == 1 and subtotals.get(free.currency, -1) >= free.amount:
                    amount = 0
            quotes.append(self._quote(method, amount + extra, offer.price.currency))
        return quotes

    def _quote(self, method: str, amount: int, currency: str) -> ShippingMethodQuote:
        key = (method, amount, currency)
        quote = self._quotes.get(key)
        if quote is None:
            name = self.ruleset.methods[method].name
            quote = ShippingMethodQuote(method, name, Money(amount=amount, currency=currency))
            self._quotes[key] = quote
        return quote

    def availability(
        self, product: Product, country: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """The contract's Availability for one unit of ``product`` shipped to ``country``."""
        dest = Destination(country=country.upper())
        line = self.decide([CartLine(product, 1)], dest, at).items[0]
        return {
            "country": dest.country,
            "eligible": line.eligible,
            "max_quantity": line.max_quantity,
            "reasons": [r.as_json() for r in line.reasons],
        }

    def allowed_countries(self, lines: Sequence[CartLine], at: datetime | None = None) -> list[str]:
        """Countries where every line may ship, judged on the country alone: rules that need a
        subdivision, postal code or first line do not match, so they only restrict later
        (when the address is known)."""
        return [
            cc for cc in all_countries() if self.decide(lines, Destination(country=cc), at).eligible
        ]


def _safe_match(c: _Compiled, product: Product, dest: Destination, po: bool) -> bool:
    try:
        return c.match(product, dest, po)
    except _RuleError:
        return True


def _offer_order(c: _Compiled) -> tuple[int, str]:
    assert c.rule.price is not None
    return (c.rule.price.amount, c.rule.id)


def _limit_of(rule: Rule, product: Product) -> int:
    if rule.max_quantity is not None:
        return rule.max_quantity
    assert rule.max_supply_days is not None
    days = product.attributes.supply_days
    if days is None:
        raise _RuleError(f"{product.sku} has no supply_days for a days-supply limit")
    return rule.max_supply_days // days


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _error_reason(rule: Rule, values: dict[str, str]) -> Reason:
    return Reason.model_construct(
        rule_id=rule.id,
        code=RULE_ERROR,
        message=f"We can't confirm that {values['product_name']} may ship to "
        f"{values['country_name']} right now; please contact support.",
    )


def _step(rule: Rule, result: str, detail: str) -> dict[str, Any]:
    return {"rule_id": rule.id, "effect": rule.effect, "result": result, "detail": detail}


def _describe(c: _Compiled) -> str:
    parts = []
    for name in ("countries", "subdivisions", "kinds", "categories", "skus"):
        value = getattr(c, name)
        if value is not None:
            parts.append(f"{name}={','.join(sorted(value)[:8])}{'...' if len(value) > 8 else ''}")
    if c.postal is not None:
        parts.append("postal_codes")
    if c.po_box is not None:
        parts.append(f"po_box={c.po_box}")
    if c.attributes:
        parts.append("attributes")
    if c.ingredients:
        parts.append("ingredients")
    return "; ".join(parts) or "always"


@cache
def default_engine() -> Engine:
    """The engine for the packaged default ruleset (built once per process)."""
    from bonestore.domain.rules.loader import load_ruleset

    return Engine(load_ruleset())
