"""Speed without changing a decision: the index (a line meets only the rules that can
apply to it) and the memo (a line seen before is not evaluated again).

Both are checked against the naive reference evaluator by a property test
(tests/unit/rules/test_rules_reference.py).
"""

from __future__ import annotations

import bisect
from decimal import Decimal
from typing import Any, Generic, TypeVar

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination, is_po_box
from bonestore.domain.rules.conditions import CompiledRule, attribute_value
from bonestore.domain.rules.decision import Decided, LineBase, Reason

MEMO_LIMIT = 200_000
# The other caches' bounds. Their sizes are tuning (a smaller one only costs speed); that
# each holds is a contract (``Engine.cache_sizes``): a cache keyed on input grows without
# end otherwise, one distinct product, address or message at a time.
REASONS_LIMIT = 1_000  # outcomes per group view, one per distinct message values
OBJECT_KEYS_LIMIT = 10_000  # product and destination objects -> their content keys
DESTINATIONS_LIMIT = 100_000  # distinct destination contents (their ids restart after)


def _needs_match(c: CompiledRule, indexed: str) -> bool:
    """Whether ``c``, found in its country's bucket under its ``indexed`` product key (the
    bucket already fixes the country, the key its one product condition), may still not
    apply in a time bucket where it is active: any other condition leaves it to ``match``."""
    if c.ingredients:
        return True
    if c.subdivisions is not None or c.postal is not None or c.po_box is not None:
        return True
    present = {
        "kind": c.kinds is not None,
        "category": c.categories is not None,
        "sku": c.skus is not None,
        "attribute": bool(c.attributes),
    }
    if indexed == "attribute" and len(c.attributes) != 1:
        return True
    return any(found for key, found in present.items() if key != indexed)


# The time buckets each group keeps a view for (a tuning bound: a view is rebuilt from the
# group's rules in microseconds). A running Lambda decides in one bucket, support's
# "as at" queries in a few more.
VIEWS_LIMIT = 8

# What a group's key-decided rules add to one line, for one set of the values their
# reasons and limits depend on: (forbid reasons, default reasons, limits, rule errors).
Outcome = TypeVar("Outcome")
GroupOutcome = tuple[list[Reason], list[Reason], list[tuple[int, Reason]], list[Reason]]


class _OutcomeCache(Generic[Outcome]):
    """What a group view or a class plan adds to a line, kept per distinct set of the
    message values it depends on (``fields``, and ``supply_days`` when a days-supply
    limit is in it): ``outcome`` when it depends on none, else ``outcomes``, bounded."""

    __slots__ = ("days", "fields", "outcome", "outcomes")
    fields: tuple[str, ...]
    days: bool
    outcomes: dict[tuple[Any, ...], Outcome]
    outcome: Outcome | None

    def key(self, values: dict[str, str], product: Product) -> tuple[Any, ...]:
        if self.days:
            return (*[values[f] for f in self.fields], product.attributes.supply_days)
        return tuple([values[f] for f in self.fields])

    def remember(self, key: tuple[Any, ...], outcome: Outcome) -> None:
        if not key:
            self.outcome = outcome
            return
        if len(self.outcomes) >= REASONS_LIMIT:
            self.outcomes.clear()
        self.outcomes[key] = outcome


class GroupView(_OutcomeCache[GroupOutcome]):
    """The rules of one group active in one time bucket, sorted for the hot path: those the
    key alone decides (no other condition) by effect, so a line meets them without
    ``match``; the rest in ``check``. Between two boundaries the active set is fixed, so a
    rule outside its window is left out, and one inside it is decided by its key."""

    __slots__ = (
        "check",
        "decides",
        "defaults",
        "forbids",
        "limits",
        "permit",
    )

    def __init__(
        self, rules: list[CompiledRule], indexed: str, fixed: frozenset[str], ts: float
    ) -> None:
        self.permit = False
        self.forbids: list[CompiledRule] = []
        self.defaults: list[CompiledRule] = []
        self.limits: list[CompiledRule] = []
        self.check: list[CompiledRule] = []
        fields: set[str] = set()
        for c in rules:
            if not c.active(ts):
                continue
            effect = c.effect
            if _needs_match(c, indexed):
                self.check.append(c)
            elif effect == "permit":
                self.permit = True
            else:
                if effect == "forbid":
                    self.forbids.append(c)
                elif effect == "default":
                    self.defaults.append(c)
                else:  # a limit: the last of the four effects a line rule has
                    self.limits.append(c)
                fields.update(c.fields)
        self.decides = bool(self.forbids or self.defaults or self.limits)
        # A days-supply limit depends on the product's supply_days, and without them it is
        # a rule error, whose reason names the product and the country.
        self.days = any(c.max_supply_days is not None for c in self.limits)
        if self.days:
            fields.update(("product_name", "country_name"))
        fields.discard("max_quantity")  # each limit's own, derived from the rest
        # The message values the outcome depends on (less those its bucket fixes), and its
        # outcome per distinct set of them; ``outcome`` when it depends on none.
        self.fields = tuple(sorted(fields - fixed))
        self.outcomes: dict[tuple[Any, ...], GroupOutcome] = {}
        self.outcome: GroupOutcome | None = None


class LineGroup:
    """The rules under one index key (``rules``: all of them; the trace reports every one),
    and their view per time bucket."""

    __slots__ = ("fixed", "indexed", "rules", "views")

    def __init__(self, indexed: str, fixed: frozenset[str]) -> None:
        self.indexed = indexed
        self.fixed = fixed  # the message values its bucket fixes
        self.rules: list[CompiledRule] = []
        self.views: dict[int, GroupView] = {}

    def view(self, bucket: int, ts: float) -> GroupView:
        """Its view in time bucket ``bucket`` (``ts`` is an instant in it)."""
        found = self.views.get(bucket)
        if found is None:
            if len(self.views) >= VIEWS_LIMIT:
                self.views.clear()
            found = self.views[bucket] = GroupView(self.rules, self.indexed, self.fixed, ts)
        return found

    def cached_reasons(self) -> int:
        """The most outcomes one of its views keeps (a view that needs no key keeps one)."""
        return max(
            (len(v.outcomes) or int(v.outcome is not None) for v in self.views.values()),
            default=0,
        )

    def add(self, c: CompiledRule) -> None:
        self.rules.append(c)
        self.views.clear()


class _Bucket:
    """Rules of one country (or of every country), indexed by their most selective product key."""

    __slots__ = (
        "attribute_rules",
        "by_attribute",
        "by_category",
        "by_ingredient",
        "by_kind",
        "by_sku",
        "fixed",
        "rest",
    )

    def __init__(self, country: str | None) -> None:
        # A country's bucket fixes the country in every message its rules' reasons fill.
        self.fixed = frozenset(("country", "country_name") if country else ())
        self.by_sku: dict[str, LineGroup] = {}
        # A rule whose first ingredient test names ingredients can only match a product that
        # has one of them (an absent ingredient is a definite "no", never an error).
        self.by_ingredient: dict[str, list[CompiledRule]] = {}
        # A rule whose first attribute test is ``eq``: attribute name -> value -> rules. A
        # product without the attribute gets all of them (they must report rule_error).
        self.by_attribute: dict[str, dict[Any, LineGroup]] = {}
        self.attribute_rules: dict[str, list[CompiledRule]] = {}
        self.by_category: dict[str, LineGroup] = {}
        self.by_kind: dict[str, LineGroup] = {}
        self.rest = LineGroup("", self.fixed)

    def add(self, c: CompiledRule) -> None:
        first_attribute = c.attributes[0] if c.attributes else None
        if c.skus is not None:
            for sku in c.skus:
                self.by_sku.setdefault(sku, LineGroup("sku", self.fixed)).add(c)
        elif c.ingredients:
            for name in c.ingredients[0].any_of:
                self.by_ingredient.setdefault(name, []).append(c)
        elif (
            first_attribute is not None
            and first_attribute.op == "eq"
            and isinstance(first_attribute.value, str | int | Decimal)
        ):
            values = self.by_attribute.setdefault(first_attribute.name, {})
            values.setdefault(first_attribute.value, LineGroup("attribute", self.fixed)).add(c)
            self.attribute_rules.setdefault(first_attribute.name, []).append(c)
        elif c.categories is not None:
            for cat in c.categories:
                self.by_category.setdefault(cat, LineGroup("category", self.fixed)).add(c)
        elif c.kinds is not None:
            for kind in c.kinds:
                self.by_kind.setdefault(kind, LineGroup("kind", self.fixed)).add(c)
        else:
            self.rest.add(c)

    def groups(self) -> list[LineGroup]:
        by_value = [g for values in self.by_attribute.values() for g in values.values()]
        return [
            self.rest,
            *self.by_sku.values(),
            *by_value,
            *self.by_category.values(),
            *self.by_kind.values(),
        ]

    def class_groups(
        self, product: Product, groups: list[LineGroup], check: list[CompiledRule]
    ) -> None:
        """Adds the groups of rules that can apply to any product of ``product``'s class
        (its kind, its category, the values of the attributes this bucket indexes), and the
        rules of an attribute it lacks to ``check``: what every product of the class meets."""
        if self.rest.rules:
            groups.append(self.rest)
        # Each lookup only where the bucket has rules of that key (most have one or two).
        if self.by_kind:
            found = self.by_kind.get(product.kind)
            if found is not None:
                groups.append(found)
        if self.by_category:
            found = self.by_category.get(product.category)
            if found is not None:
                groups.append(found)
        for name, by_value in self.by_attribute.items():
            value = attribute_value(product, name)
            if value is None:
                check += self.attribute_rules[name]
                continue
            try:
                group = by_value.get(value)
            except TypeError:  # an unhashable attribute value: consider them all
                check += self.attribute_rules[name]
                continue
            if group is not None:
                groups.append(group)


# Class plans kept, one per product class, country and time bucket (a tuning bound: a plan
# is rebuilt from its groups' views in microseconds).
CLASS_PLANS_LIMIT = 10_000
# The message values a country's plan never depends on: the plan fixes the country.
_PLAN_FIXED = frozenset(("country", "country_name"))


# What a class plan's groups add to one line, merged (decision.Decided: forbids and rule
# errors by rule id, defaults by rule id, limits smallest first, the smallest or None).
PlanOutcome = Decided


class ClassPlan(_OutcomeCache[PlanOutcome]):
    """A decision table's row: what the index decides for every product of one class (its
    kind, category and the values of the attributes the country's rules index) shipped to
    one country in one time bucket. Its groups' key-decided outcomes merged and sorted once
    per distinct set of message values (``outcomes``), and the rules left to ``match``
    (``check``). A line of the class adds only its SKU's rules and its ingredients', so a
    product never seen before costs a lookup, not a walk over every group (bench_rules (b))."""

    __slots__ = ("check", "permit", "views")

    def __init__(self, views: list[GroupView], check: list[CompiledRule]) -> None:
        self.permit = any(v.permit for v in views)
        self.views = [v for v in views if v.decides]
        self.check = check + [c for v in views for c in v.check]
        fields: set[str] = set()
        for view in self.views:
            fields.update(view.fields)
        self.fields = tuple(sorted(fields - _PLAN_FIXED))
        self.days = any(v.days for v in self.views)
        self.outcomes: dict[tuple[Any, ...], PlanOutcome] = {}
        # Its outcome when it depends on no message value (the usual plan).
        self.outcome: PlanOutcome | None = None


class RuleIndex:
    """Line rules by country (rules naming no country apply everywhere), then by product key;
    method rules by country; and what the memo's keys must include."""

    def __init__(self, compiled: list[CompiledRule]) -> None:
        self._global = _Bucket(None)
        self._by_country: dict[str, _Bucket] = {}
        self.method_global: list[CompiledRule] = []
        self.method_by_country: dict[str, list[CompiledRule]] = {}
        self.postal_countries: set[str] = set()
        self.po_countries: set[str] = set()
        self.postal_everywhere = self.po_everywhere = False
        boundaries: set[float] = set()
        for c in compiled:
            boundaries.update(t for t in (c.start, c.end) if t is not None)
            countries = c.countries
            if c.postal is not None:
                if countries is None:
                    self.postal_everywhere = True
                else:
                    self.postal_countries |= countries
            if c.po_box is not None:
                if countries is None:
                    self.po_everywhere = True
                else:
                    self.po_countries |= countries
            if c.method is not None:
                if countries is None:
                    self.method_global.append(c)
                else:
                    for cc in countries:
                        self.method_by_country.setdefault(cc, []).append(c)
            elif countries is None:
                self._global.add(c)
            else:
                for cc in countries:
                    self._by_country.setdefault(cc, _Bucket(cc)).add(c)
        # Every instant a rule starts or ends: between two of them, the active set is fixed.
        self.boundaries = sorted(boundaries)
        # (country, time bucket, kind, category, attribute values) -> its ClassPlan
        self.class_plans: dict[tuple[Any, ...], ClassPlan] = {}
        # country -> the attribute names its line rules index (its bucket's and global's)
        self._class_attributes: dict[str, tuple[str, ...]] = {}

    def class_plan(
        self, product: Product, country: str, bucket: int, ts: float
    ) -> ClassPlan | None:
        """The plan for ``product``'s class in ``country`` in time bucket ``bucket`` (``ts``
        an instant in it); None when the class cannot be told (an unhashable attribute
        value): the line then meets its groups one by one."""
        names = self._class_attributes.get(country)
        if names is None:
            found = self._by_country.get(country)
            indexed = set(self._global.by_attribute) | set(found.by_attribute if found else ())
            names = self._class_attributes[country] = tuple(sorted(indexed))
        key: tuple[Any, ...] = (country, bucket, product.kind, product.category)
        if names:
            key += tuple([attribute_value(product, name) for name in names])
        try:
            plan = self.class_plans.get(key)
        except TypeError:
            return None
        if plan is None:
            groups: list[LineGroup] = []
            check: list[CompiledRule] = []
            self._global.class_groups(product, groups, check)
            found = self._by_country.get(country)
            if found is not None:
                found.class_groups(product, groups, check)
            views = [g.views.get(bucket) or g.view(bucket, ts) for g in groups]
            if len(self.class_plans) >= CLASS_PLANS_LIMIT:
                self.class_plans.clear()
            plan = self.class_plans[key] = ClassPlan(views, check)
        return plan

    def product_rules(
        self, product: Product, country: str
    ) -> tuple[list[LineGroup], list[CompiledRule]]:
        """What a line adds to its class's groups: the groups of its SKU, and the rules its
        ingredients find (each once; an ingredient index may name a rule under several)."""
        groups: list[LineGroup] = []
        check: list[CompiledRule] = []
        hits = 0
        sku = product.sku
        ingredients = product.attributes.ingredients
        for bucket in (self._global, self._by_country.get(country)):
            if bucket is None:
                continue
            if bucket.by_sku:
                found = bucket.by_sku.get(sku)
                if found is not None:
                    groups.append(found)
            if bucket.by_ingredient and ingredients:
                by_ingredient = bucket.by_ingredient
                for name in ingredients:
                    rules = by_ingredient.get(name)
                    if rules:
                        check += rules
                        hits += 1
        return groups, list(dict.fromkeys(check)) if hits > 1 else check

    def line_candidates(
        self, product: Product, country: str
    ) -> tuple[list[LineGroup], list[CompiledRule]]:
        """The rule groups a line in ``country`` meets, and the rules it must ``match``
        (each once) beyond those the groups' keys decide."""
        groups, check = self.product_rules(product, country)
        self._global.class_groups(product, groups, check)
        bucket = self._by_country.get(country)
        if bucket is not None:
            bucket.class_groups(product, groups, check)
        return groups, check

    def candidates(self, product: Product, country: str) -> list[CompiledRule]:
        """Every rule that can apply to a line in ``country``, each once (the trace)."""
        groups, check = self.line_candidates(product, country)
        found = [c for group in groups for c in group.rules]
        return list(dict.fromkeys(found + check))

    def _line_groups(self) -> list[LineGroup]:
        buckets = [self._global, *self._by_country.values()]
        return [g for b in buckets for g in b.groups()]

    def largest_reason_cache(self) -> int:
        """The most outcomes any one group's view holds (each is bounded by REASONS_LIMIT)."""
        return max(g.cached_reasons() for g in self._line_groups())

    def largest_plan_reasons(self) -> int:
        """The most outcomes any one class plan holds (each is bounded by REASONS_LIMIT)."""
        return max(
            (len(p.outcomes) or int(p.outcome is not None) for p in self.class_plans.values()),
            default=0,
        )

    def largest_view_cache(self) -> int:
        """The most time-bucket views any one group holds (bounded by VIEWS_LIMIT)."""
        return max(len(g.views) for g in self._line_groups())

    def method_rules(self, country: str) -> list[CompiledRule]:
        return self.method_global + self.method_by_country.get(country, [])

    def time_bucket(self, ts: float) -> int:
        return bisect.bisect_right(self.boundaries, ts)

    def po_box(self, dest: Destination) -> bool:
        """Whether the destination's first line is a PO box, where some rule asks."""
        if self.po_everywhere or dest.country in self.po_countries:
            return is_po_box(dest.line1)
        return False

    def uses_postal(self, country: str) -> bool:
        return self.postal_everywhere or country in self.postal_countries


class LineMemo:
    """Per-line decisions keyed on all their inputs: the product's rule-relevant content,
    the destination fields some rule can look at, and the time bucket. Bounded."""

    def __init__(self, index: RuleIndex, size: int) -> None:
        self.index = index
        self.size = size
        self.lines: dict[tuple[int, int, int], LineBase] = {}
        self.product_keys: dict[int, tuple[Product, int]] = {}
        self._pcontent: dict[str, int] = {}
        self.dest_keys: dict[int, tuple[Destination, tuple[int, bool]]] = {}
        self._dcontent: dict[tuple[Any, ...], int] = {}
        self.on_reset: list[dict[Any, Any]] = []  # other caches keyed on destination ids

    def product_key(self, product: Product) -> int:
        """A small int standing for the product's rule-relevant content (SKU, name, kind,
        category, attributes): equal content, equal key, whichever object carries it.
        Remembered in ``product_keys`` by identity, where ``Engine.decide`` looks first
        (serializing the product costs microseconds; the lookup, inline, a few dozen ns)."""
        content = product.model_dump_json(include={"sku", "name", "kind", "category", "attributes"})
        key = self._pcontent.get(content)
        if key is None:
            if len(self._pcontent) >= self.size:  # ids restart: forget what used them
                self._pcontent.clear()
                self.product_keys.clear()
                self.lines.clear()
            key = self._pcontent[content] = len(self._pcontent)
        if len(self.product_keys) >= OBJECT_KEYS_LIMIT:
            self.product_keys.clear()
        self.product_keys[id(product)] = (product, key)
        return key

    def dest_key(self, dest: Destination) -> tuple[int, bool]:
        """(a small int standing for the destination fields any rule can look at, and only
        those; whether its first line is a PO box where a rule asks). An object seen before
        is found by identity."""
        seen = self.dest_keys.get(id(dest))
        if seen is not None and seen[0] is dest:
            return seen[1]
        country = dest.country
        postal = dest.postal_code if self.index.uses_postal(country) else None
        po = self.index.po_box(dest)
        fields = (country, dest.subdivision, postal, po)
        interned = self._dcontent.get(fields)
        if interned is None:
            if len(self._dcontent) >= DESTINATIONS_LIMIT:  # ids restart: forget what used them
                self._dcontent.clear()
                self.dest_keys.clear()
                self.lines.clear()
                for cache in self.on_reset:
                    cache.clear()
            interned = self._dcontent[fields] = len(self._dcontent)
        key = (interned, po)
        if len(self.dest_keys) >= OBJECT_KEYS_LIMIT:
            self.dest_keys.clear()
        self.dest_keys[id(dest)] = (dest, key)
        return key

    def sizes(self) -> dict[str, int]:
        return {
            "lines": len(self.lines),
            "product_ids": len(self.product_keys),
            "products": len(self._pcontent),
            "destination_ids": len(self.dest_keys),
            "destinations": len(self._dcontent),
        }

    def store(self, key: tuple[int, int, int], base: LineBase) -> None:
        if len(self.lines) >= self.size:
            self.lines.clear()
        self.lines[key] = base
