"""The decision for one line, as Cedar's authorizer makes it: the rules that matched are
sorted into sets (permits, forbids, errors, defaults, limits), then one small pure
function combines them (docs/rules.md, "Decision semantics").
"""

from __future__ import annotations

import operator
from bisect import bisect_left
from typing import Any, NamedTuple

RULE_ERROR = "rule_error"
NO_PERMIT_ID = "default-deny"
NO_PERMIT_CODE = "not_permitted"
BY_RULE_ID = operator.itemgetter(0)  # of a Reason
_QUANTITY = operator.itemgetter(0)  # of a (max quantity, Reason) limit
_FEW = 8  # reasons a line's sort compares as tuples (a tuning bound)


class Reason(NamedTuple):
    """Why a line is (in)eligible; ``message`` is customer-facing. A tuple, not a model:
    a line never seen before builds one per rule that names it (a pydantic model costs
    ~10x as much to build), and ``(max quantity, Reason)`` pairs sort without a key."""

    rule_id: str
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "code": self.code, "message": self.message}


class Matched:
    """The active rules that matched one line (or could not be evaluated on it), by kind.
    A plain class, not a dataclass: a line never seen before makes one, and a dataclass's
    ``default_factory`` lists cost it ~60% more (~170 ns a line here)."""

    __slots__ = ("defaults", "errors", "forbids", "limits", "permitted")

    def __init__(self) -> None:
        self.permitted = False
        self.forbids: list[Reason] = []
        self.errors: list[Reason] = []
        self.defaults: list[Reason] = []
        # (max quantity, reason), in no order; as tuples they order by quantity, then rule id
        self.limits: list[tuple[int, Reason]] = []


class LineBase:
    """The quantity-independent part of a line's decision (what the memo keeps). Read by
    every cart the memo hands it to (and, in the local gateway, by threads at once):
    never changed once built. A plain class, as ``Matched``: a dataclass costs a cold
    start ~2.5M instructions to define (issue #14)."""

    __slots__ = ("denials", "limits", "max_quantity", "trace")

    def __init__(
        self,
        denials: list[Reason],
        limits: list[tuple[int, Reason]],
        max_quantity: int | None,
        trace: list[dict[str, Any]] | None = None,
    ) -> None:
        self.denials = denials  # forbids, rule errors, or "nothing permits"; by rule id
        # (max quantity, reason), smallest first (as tuples sort): a quantity over some of
        # them exceeds a prefix, found by bisection (apply_quantity)
        self.limits = limits
        self.max_quantity = max_quantity
        self.trace = trace


def no_permit_reason(product_name: str, country_name: str) -> Reason:
    return Reason(
        rule_id=NO_PERMIT_ID,
        code=NO_PERMIT_CODE,
        message=f"Nothing permits shipping {product_name} to {country_name}.",
    )


# What a line's class plan decided before the line's own rules are met (index.ClassPlan):
# (forbids and rule errors by rule id, defaults by rule id, limits smallest first, the
# smallest limit or None). Shared by every line of the class: read, never changed.
Decided = tuple[list[Reason], list[Reason], list[tuple[int, Reason]], int | None]


def combine(
    matched: Matched, product_name: str, country_name: str, decided: Decided | None = None
) -> LineBase:
    """Forbid overrides permit; errors deny; with no permit (and nothing else to name) the
    defaults, else "nothing permits"; the smallest limit is the line's maximum.

    ``matched`` adds to what the line's class plan ``decided`` (sorted, shared): a line
    its own rules add nothing to keeps the plan's lists, one that adds a few merges them
    in (two sorted runs: the sort merges them in one pass) instead of sorting them all."""
    denials, defaults, limits, smallest = ([], [], [], None) if decided is None else decided
    extra = matched.forbids + matched.errors
    if extra:
        denials = denials + extra
        # By rule id: a line meets each rule once, so the tuples' later fields never
        # decide. Many (a line may carry dozens: bench_rules (b)) sort ~2x faster on the
        # ids alone, a few faster as tuples (no key list to build).
        if len(denials) > _FEW:
            denials.sort(key=BY_RULE_ID)
        else:
            denials.sort()
    if not matched.permitted and not denials:
        if matched.defaults:
            defaults = sorted(defaults + matched.defaults, key=BY_RULE_ID)
        denials = defaults or [no_permit_reason(product_name, country_name)]
    if matched.limits:
        limits = sorted(limits + matched.limits)
        smallest = limits[0][0]
    return LineBase(denials=denials, limits=limits, max_quantity=smallest)


def apply_quantity(base: LineBase, quantity: int) -> list[Reason]:
    """A line's reasons at ``quantity`` (the product's total over the cart): its denials,
    then every limit it exceeds, smallest first: the prefix of its sorted limits below
    ``quantity``."""
    limits = base.limits
    exceeded = bisect_left(limits, quantity, key=_QUANTITY)
    return base.denials + [reason for _, reason in limits[:exceeded]]
