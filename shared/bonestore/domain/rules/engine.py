"""The rules engine: compile a ruleset once, decide carts fast.

Semantics (docs/rules.md): rule order never matters. A line is eligible only if a
``permit`` rule matches it, no ``forbid`` rule matches it, no rule errors on it, and
its quantity is within every matching ``limit``. The parts:

- ``conditions``: whether one rule applies (three-valued: yes, no, cannot tell);
- ``decision``: the matching rules sorted into sets, then one pure combine;
- ``index``: which rules a line can meet, and the per-line memo;
- ``methods``: shipping methods and their prices.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination, country_name
from bonestore.domain.rules.conditions import CompiledRule, RuleError, compile_rule
from bonestore.domain.rules.decision import (
    BY_RULE_ID,
    RULE_ERROR,
    LineBase,
    Matched,
    Reason,
    apply_quantity,
    combine,
    no_permit_reason,
)
from bonestore.domain.rules.index import (
    MEMO_LIMIT,
    ClassPlan,
    GroupOutcome,
    GroupView,
    LineGroup,
    LineMemo,
    PlanOutcome,
    RuleIndex,
)
from bonestore.domain.rules.methods import (
    MethodPlan,
    ShippingMethodQuote,
    UnavailableMethod,
    plan_methods,
    price_methods,
)

if TYPE_CHECKING:
    from bonestore.domain.rules.schema import Ruleset

__all__ = [
    "RULE_ERROR",
    "UNKNOWN_INGREDIENT_ID",
    "CartDecision",
    "CartLine",
    "Engine",
    "LineDecision",
    "Reason",
    "ShippingMethodQuote",
    "UnavailableMethod",
    "all_countries",
    "default_engine",
    "iso_utc",
]


@dataclass(frozen=True, slots=True)
class CartLine:
    # A slotted dataclass, not a NamedTuple as the cold path's value records are: the
    # engine reads a line's fields several times per cart, and a NamedTuple's field read
    # costs about twice a slot's (+2.3% instructions per cart, bench_rules (b) memo off).
    product: Product
    quantity: int


class LineDecision:
    """One line's decision. Plain classes, this and ``CartDecision``: a dataclass costs a
    cold start ~2.5M instructions to define (issue #14)."""

    __slots__ = ("eligible", "max_quantity", "quantity", "reasons", "sku", "trace")

    def __init__(
        self,
        sku: str,
        quantity: int,
        eligible: bool,
        max_quantity: int | None,
        reasons: list[Reason],
        trace: list[dict[str, Any]] | None = None,
    ) -> None:
        self.sku = sku
        self.quantity = quantity
        self.eligible = eligible
        self.max_quantity = max_quantity
        self.reasons = reasons
        self.trace = trace

    def to_json(self, include_trace: bool = False) -> dict[str, Any]:
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


class CartDecision:
    """A cart's decision: its lines', and the shipping methods offered and taken away."""

    __slots__ = (
        "at",
        "destination",
        "eligible",
        "items",
        "ruleset_version",
        "shipping_methods",
        "unavailable_shipping_methods",
    )

    def __init__(
        self,
        eligible: bool,
        ruleset_version: str,
        at: datetime,
        destination: Destination,
        items: list[LineDecision],
        shipping_methods: list[ShippingMethodQuote],
        unavailable_shipping_methods: list[UnavailableMethod],
    ) -> None:
        self.eligible = eligible
        self.ruleset_version = ruleset_version
        self.at = at  # the point in time decided for (UTC)
        self.destination = destination
        self.items = items
        self.shipping_methods = shipping_methods
        self.unavailable_shipping_methods = unavailable_shipping_methods

    @property
    def evaluated_at(self) -> str:
        """``at`` as ISO-8601 UTC with a ``Z`` (formatted on demand: it is not free)."""
        return iso_utc(self.at)

    def to_json(self, include_trace: bool = False) -> dict[str, Any]:
        """The contract's ``POST /eligibility`` 200 body (+ ``trace`` per line when asked)."""
        return {
            "eligible": self.eligible,
            "ruleset_version": self.ruleset_version,
            "evaluated_at": self.evaluated_at,
            "destination": self.destination.as_json(),
            "items": [item.to_json(include_trace=include_trace) for item in self.items],
            "shipping_methods": [m.to_json() for m in self.shipping_methods],
            "unavailable_shipping_methods": [
                m.to_json() for m in self.unavailable_shipping_methods
            ],
        }


def iso_utc(at: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``; microseconds only when there are some."""
    at = at.astimezone(UTC)
    spec = "microseconds" if at.microsecond else "seconds"
    return at.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


@cache
def all_countries() -> tuple[str, ...]:
    from bonestore.domain.countries import country_codes

    return tuple(sorted(country_codes()))


_STEP_ORDER = operator.itemgetter("rule_id")
# Shipping plans kept, one per distinct destination and time bucket (a tuning bound).
PLANS_LIMIT = 10_000
# The built-in rule_error of a product naming an ingredient outside the ruleset's vocabulary.
UNKNOWN_INGREDIENT_ID = "unknown-ingredient"


def _step(c: CompiledRule, result: str, detail: str) -> dict[str, Any]:
    return {"rule_id": c.rule_id, "effect": c.effect, "result": result, "detail": detail}


def _error_reason(rule_id: str, values: dict[str, str]) -> Reason:
    return Reason(
        rule_id=rule_id,
        code=RULE_ERROR,
        message=f"We can't confirm that {values['product_name']} may ship to "
        f"{values['country_name']} right now; please contact support.",
    )


def _limit_reason(c: CompiledRule, values: dict[str, str], limit: int) -> Reason:
    """A limit rule's reason at its maximum (a copy of the values only when its message
    names the maximum)."""
    if "max_quantity" in c.fields:
        return c.reason({**values, "max_quantity": str(limit)})
    return c.reason(values)


def _group_outcome(view: GroupView, product: Product, values: dict[str, str]) -> GroupOutcome:
    """What ``view``'s key-decided rules add to a line with these message values."""
    limits: list[tuple[int, Reason]] = []
    errors: list[Reason] = []
    for c in view.limits:
        try:
            limit = c.limit_for(product)
        except RuleError:
            errors.append(_error_reason(c.rule_id, values))
            continue
        limits.append((limit, _limit_reason(c, values, limit)))
    # Sorted as combine() sorts the line's denials: its sort then merges runs.
    errors.sort()
    return (
        sorted([c.reason(values) for c in view.forbids]),
        sorted([c.reason(values) for c in view.defaults]),
        limits,
        errors,
    )


def _view_outcome(view: GroupView, product: Product, values: dict[str, str]) -> GroupOutcome:
    """``view``'s outcome for these message values, from its cache or built and kept."""
    outcome = view.outcome
    if outcome is None:
        key = view.key(values, product)
        outcome = view.outcomes.get(key)
        if outcome is None:
            outcome = _group_outcome(view, product, values)
            view.remember(key, outcome)
    return outcome


def _plan_outcome(plan: ClassPlan, product: Product, values: dict[str, str]) -> PlanOutcome:
    """What ``plan``'s groups add to a line with these message values, merged and sorted
    as combine() sorts a line's denials."""
    outcome = plan.outcome
    if outcome is None:
        key = plan.key(values, product)
        outcome = plan.outcomes.get(key)
        if outcome is None:
            denials: list[Reason] = []
            defaults: list[Reason] = []
            limits: list[tuple[int, Reason]] = []
            for view in plan.views:
                forbids, view_defaults, view_limits, errors = _view_outcome(view, product, values)
                denials += forbids
                denials += errors
                defaults += view_defaults
                limits += view_limits
            # By rule id: a line meets each rule once, so the ids alone order them.
            denials.sort(key=BY_RULE_ID)
            defaults.sort(key=BY_RULE_ID)
            limits.sort()
            smallest = limits[0][0] if limits else None
            outcome = (denials, defaults, limits, smallest)
            plan.remember(key, outcome)
    return outcome


class Engine:
    """Decides carts against one ruleset. Build once per cold start; ``decide`` is pure."""

    def __init__(self, ruleset: Ruleset, memo_size: int = MEMO_LIMIT) -> None:
        self._ruleset: Ruleset | None = ruleset
        # The ruleset's models pickled, in an engine that was itself pickled (the artifact
        # compiled at build time): deciding never reads them, so a cold start that loads the
        # artifact neither imports the schema nor rebuilds its models until asked (support's
        # rule lookup, the admin's report, a diff).
        self._ruleset_pickle: bytes | None = None
        self.version = ruleset.version
        # rule id -> its line in the YAML, when known without parsing it again (the artifact
        # compiled at build time records them: rules/compiled.py).
        self.rule_lines: dict[str, int] | None = None
        # The ruleset's rules and methods as JSON (the admin's report), dumped at build time
        # into the artifact: dumping builds every rule model's serializer (~20 ms).
        self.ruleset_json: dict[str, Any] | None = None
        self._index = RuleIndex([compile_rule(ruleset, rule) for rule in ruleset.rules])
        self._memo = LineMemo(self._index, memo_size)
        self._method_order = {m: i for i, m in enumerate(ruleset.methods)}
        self._method_names = {m: method.name for m, method in ruleset.methods.items()}
        self._plans: dict[tuple[int, int], MethodPlan] = {}
        self._country_names: dict[str, str] = {}
        self._memo.on_reset.append(self._plans)
        # The ruleset's ingredient names, when it declares them: a product naming another
        # ingredient cannot be judged by any rule (docs/rules.md, "Errors deny").
        self._vocabulary = frozenset(ruleset.ingredients)

    @property
    def ruleset(self) -> Ruleset:
        """The validated ruleset it was built from."""
        found = self._ruleset
        if found is None:
            import pickle

            assert self._ruleset_pickle is not None
            # Our own build artifact, beside our code (rules/compiled.py), never input.
            found = self._ruleset = pickle.loads(self._ruleset_pickle)  # noqa: S301
        return found

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if state["_ruleset"] is not None:
            import pickle

            state["_ruleset_pickle"] = pickle.dumps(
                state["_ruleset"], protocol=pickle.HIGHEST_PROTOCOL
            )
            state["_ruleset"] = None
        return state

    # ------------------------------------------------------------ one line

    def _evaluate(
        self, product: Product, dest: Destination, po: bool, ts: float, bucket: int, trace: bool
    ) -> LineBase:
        """Sort the active rules this line meets into sets, then combine them."""
        name = self._country_names.get(dest.country)
        if name is None:
            name = self._country_names[dest.country] = country_name(dest.country)
        values = {
            "country": dest.country,
            "country_name": name,
            "subdivision": dest.subdivision or "",
            "sku": product.sku,
            "product_name": product.name,
            "max_quantity": "",
        }
        vocabulary = self._vocabulary
        unknown = bool(vocabulary) and not vocabulary.issuperset(product.attributes.ingredients)
        plan = None if trace else self._index.class_plan(product, dest.country, bucket, ts)
        decided = None
        if plan is not None:
            decided = _plan_outcome(plan, product, values)
            groups, check = self._index.product_rules(product, dest.country)
            if not (groups or check or plan.check or unknown):
                # The class decides the line: no rule left to match, no list to merge.
                denials, defaults, limits, smallest = decided
                if not plan.permit and not denials:
                    denials = defaults or [no_permit_reason(product.name, name)]
                return LineBase(denials=denials, limits=limits, max_quantity=smallest)
            matched = Matched()
            matched.permitted = plan.permit
            self._meet_groups(groups, bucket, ts, product, dest, po, values, matched)
            if plan.check:
                self._match_each(plan.check, product, dest, po, ts, values, matched, None)
            if check:
                self._match_each(check, product, dest, po, ts, values, matched, None)
        elif trace:
            matched = Matched()
            steps: list[dict[str, Any]] = []
            candidates = self._index.candidates(product, dest.country)
            self._match_each(candidates, product, dest, po, ts, values, matched, steps)
        else:  # a class no plan can name: every group it meets, one by one
            matched = Matched()
            groups, check = self._index.line_candidates(product, dest.country)
            self._meet_groups(groups, bucket, ts, product, dest, po, values, matched)
            if check:
                self._match_each(check, product, dest, po, ts, values, matched, None)

        if unknown:
            # Fail closed: no rule can be evaluated on an ingredient it cannot name.
            matched.errors.append(_error_reason(UNKNOWN_INGREDIENT_ID, values))
            if trace:
                names = sorted(set(product.attributes.ingredients) - vocabulary)
                steps.append(
                    {
                        "rule_id": UNKNOWN_INGREDIENT_ID,
                        "effect": "error",
                        "result": "error",
                        "detail": f"ingredients not in the ruleset's vocabulary: {names}",
                    }
                )

        # What the line's own rules add to its class plan's decision (merged, not copied).
        base = combine(matched, product.name, name, decided)
        if trace:
            steps.sort(key=_STEP_ORDER)
            base.trace = steps
        return base

    def _meet_groups(
        self,
        groups: list[LineGroup],
        bucket: int,
        ts: float,
        product: Product,
        dest: Destination,
        po: bool,
        values: dict[str, str],
        matched: Matched,
    ) -> None:
        """Sort what ``groups`` add to a line into ``matched``: their key-decided rules'
        outcomes (no match() to call), then the rules each leaves to ``match``."""
        for group in groups:
            view = group.views.get(bucket) or group.view(bucket, ts)
            if view.permit:
                matched.permitted = True
            if view.decides:
                forbids, defaults, limits, errors = _view_outcome(view, product, values)
                if forbids:
                    matched.forbids += forbids
                if defaults:
                    matched.defaults += defaults
                if limits:
                    matched.limits += limits
                if errors:
                    matched.errors += errors
            if view.check:
                self._match_each(view.check, product, dest, po, ts, values, matched, None)

    def _match_each(
        self,
        rules: Sequence[CompiledRule],
        product: Product,
        dest: Destination,
        po: bool,
        ts: float,
        values: dict[str, str],
        matched: Matched,
        steps: list[dict[str, Any]] | None,
    ) -> None:
        """Sort the rules that need ``match`` into ``matched`` (and ``steps``, tracing)."""
        for c in rules:
            if (c.start is not None and ts < c.start) or (c.end is not None and ts >= c.end):
                if steps is not None:
                    steps.append(_step(c, "inactive", "outside its effective window"))
                continue
            verdict = c.verdict(product, dest, po)
            limit = None
            if verdict is True and c.effect == "limit":
                try:
                    limit = c.limit_for(product)
                except RuleError as exc:
                    verdict = str(exc)
            if verdict is not True and verdict is not False:  # cannot be told: it denies
                matched.errors.append(_error_reason(c.rule_id, values))
                if steps is not None:
                    steps.append(_step(c, "error", verdict))
                continue
            applies = verdict
            if steps is not None:
                steps.append(_step(c, "match" if applies else "no_match", c.describe()))
            if not applies:
                continue
            effect = c.effect
            if effect == "permit":
                matched.permitted = True
            elif effect == "forbid":
                matched.forbids.append(c.reason(values))
            elif effect == "default":
                matched.defaults.append(c.reason(values))
            elif limit is not None:
                matched.limits.append((limit, _limit_reason(c, values, limit)))

    # ------------------------------------------------------------ public API

    def cache_sizes(self) -> dict[str, int]:
        """How many entries each cache kept between decisions holds. Each is bounded
        (rules/index.py), so a long-lived process does not grow with every distinct
        product, address and message it is asked about."""
        return {
            **self._memo.sizes(),
            "group_reasons": self._index.largest_reason_cache(),
            "class_plans": len(self._index.class_plans),
            "plan_reasons": self._index.largest_plan_reasons(),
            "group_views": self._index.largest_view_cache(),
            "plans": len(self._plans),
        }

    def decide(
        self,
        lines: Sequence[CartLine],
        destination: Destination,
        at: datetime | None = None,
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
        bucket = self._index.time_bucket(ts)
        memo = self._memo
        dkey = memo.dest_key(destination)
        did, po = dkey
        remember = bool(memo.size) and not trace
        seen = memo.lines
        product_keys = memo.product_keys
        totals: dict[str, int] | None = None  # quantity per SKU over the cart, once needed
        items: list[LineDecision] = []
        all_ok = True
        for line in lines:
            product = line.product
            if remember:
                known = product_keys.get(id(product))  # an object seen before
                if known is None or known[0] is not product:
                    pkey = memo.product_key(product)
                else:
                    pkey = known[1]
                key = (pkey, did, bucket)
                base = seen.get(key)
                if base is None:
                    base = self._evaluate(product, destination, po, ts, bucket, False)
                    memo.store(key, base)
            else:
                base = self._evaluate(product, destination, po, ts, bucket, trace)
            if base.limits:  # a limit counts the product over every line it is on
                if totals is None:
                    # domain.order.quantities_by_sku adds the same up, from (sku, qty)
                    # tuples: building those cost the warm path 5% (bench_rules (b)), and
                    # importing the order model here would cost eligibility's cold start.
                    totals = {}
                    for other in lines:
                        sku = other.product.sku
                        totals[sku] = totals.get(sku, 0) + other.quantity
                total = totals[product.sku]
                # Within the smallest limit (the usual cart) no limit is exceeded.
                if total > cast(int, base.max_quantity):
                    reasons = apply_quantity(base, total)
                else:
                    reasons = base.denials[:]  # a copy: the memo keeps base
            else:
                reasons = base.denials[:]  # a copy: the memo keeps base
            if reasons:
                all_ok = False
            items.append(
                LineDecision(
                    product.sku, line.quantity, not reasons, base.max_quantity, reasons, base.trace
                )
            )
        methods, unavailable = self._methods(lines, destination, dkey, bucket, ts)
        return CartDecision(
            eligible=all_ok,
            ruleset_version=self.version,
            at=at,
            destination=destination,
            items=items,
            shipping_methods=methods,
            unavailable_shipping_methods=unavailable,
        )

    def _methods(
        self,
        lines: Sequence[CartLine],
        dest: Destination,
        dkey: tuple[int, bool],
        bucket: int,
        ts: float,
    ) -> tuple[list[ShippingMethodQuote], list[UnavailableMethod]]:
        physical = [line for line in lines if line.product.kind == "physical"]
        if not physical:
            return [], []
        key = (dkey[0], bucket)
        plan = self._plans.get(key)
        if plan is None:
            rules = self._index.method_rules(dest.country)
            plan = plan_methods(rules, dest, dkey[1], ts, self._method_order, self._method_names)
            if len(self._plans) >= PLANS_LIMIT:
                self._plans.clear()
            self._plans[key] = plan
        return price_methods(plan, physical, dest, dkey[1])

    def availability(
        self, product: Product, country: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """The contract's Availability for one unit of ``product`` shipped to ``country``."""
        dest = Destination(country=country.upper())
        (line,) = self.decide([CartLine(product, 1)], dest, at).items
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


@cache
def default_engine() -> Engine:
    """The engine for the packaged default ruleset (built once per process): the artifact
    compiled at build time when it matches the YAML, else the YAML (rules/compiled.py)."""
    from bonestore.domain.rules.compiled import load_compiled

    engine = load_compiled()
    if engine is not None:
        return engine
    from bonestore.domain.rules.loader import load_ruleset

    return Engine(load_ruleset())
