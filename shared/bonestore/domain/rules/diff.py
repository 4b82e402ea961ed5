"""Previewing a ruleset change: which decisions it flips (``bonestore rules diff``).

Pure: the CLI brings the products, the destinations to probe and the orders (typed
``Order`` values, read by the order repository's translation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination, canonical_postal_code, subdivision_country
from bonestore.domain.orders import parse_iso
from bonestore.domain.payment import EMBARGO_CODES
from bonestore.domain.rules.engine import CartDecision, CartLine, Engine, all_countries

if TYPE_CHECKING:
    from bonestore.domain.order import Order


@dataclass(frozen=True)
class DecisionSummary:
    """What a change can flip for one cart: eligibility, limit, reasons and methods."""

    eligible: bool
    max_quantity: int | None
    rule_ids: tuple[str, ...]
    methods: tuple[str, ...]

    def __str__(self) -> str:
        text = "eligible" if self.eligible else f"no ({', '.join(self.rule_ids)})"
        if self.max_quantity is not None:
            text += f", max {self.max_quantity}"
        if self.methods:
            text += f"; {', '.join(self.methods)}"
        return text


def summarize(decision: CartDecision) -> DecisionSummary:
    return DecisionSummary(
        eligible=decision.eligible,
        max_quantity=min(
            (i.max_quantity for i in decision.items if i.max_quantity is not None), default=None
        ),
        rule_ids=tuple(sorted({r.rule_id for i in decision.items for r in i.reasons})),
        methods=tuple(f"{m.id} {m.price.amount / 100:.2f}" for m in decision.shipping_methods),
    )


def _flipped(old: DecisionSummary, new: DecisionSummary) -> bool:
    return (old.eligible, old.max_quantity, old.methods) != (
        new.eligible,
        new.max_quantity,
        new.methods,
    )


@dataclass(frozen=True)
class Flip:
    sku: str
    destination: Destination
    old: DecisionSummary
    new: DecisionSummary

    @property
    def where(self) -> str:
        d = self.destination
        return " ".join(x for x in (d.country, d.subdivision, d.postal_code, d.line1) if x)


def probe_destinations(*engines: Engine) -> list[Destination]:
    """Every country, plus every subdivision, postal range start and PO-box line that any of
    the rulesets names (so sub-country rules are exercised too)."""
    out = [Destination(country=cc) for cc in all_countries()]
    extra: set[tuple[str, str | None, str | None, str | None]] = set()
    for engine in engines:
        ruleset = engine.ruleset
        for rule in ruleset.rules:
            dest = rule.when.destination
            countries = sorted(ruleset.countries_of(rule) or ())
            for sub in dest.subdivisions or ():
                country = subdivision_country(sub)
                if country is not None:
                    extra.add((country, sub, None, None))
            if dest.postal_codes is not None:
                for country in countries:
                    for r in dest.postal_codes.ranges:
                        for bound in (r.from_, r.to):
                            code = canonical_postal_code(country, bound)
                            if code is not None:
                                extra.add((country, None, code, None))
            if dest.po_box is not None:
                for country in countries:
                    extra.add((country, None, None, "PO Box 1"))
    out.extend(
        Destination(country=c, subdivision=s, postal_code=p, line1=line)
        for c, s, p, line in sorted(extra, key=lambda t: tuple(x or "" for x in t))
    )
    return out


def diff_decisions(
    old: Engine,
    new: Engine,
    products: Sequence[Product],
    destinations: Sequence[Destination],
    at: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Flip]:
    """Every (product, destination) whose one-unit decision the change flips."""
    at = at or datetime.now(UTC)
    flips = []
    for product in products:
        line = [CartLine(product, 1)]
        for dest in destinations:
            before = summarize(old.decide(line, dest, at))
            after = summarize(new.decide(line, dest, at))
            if _flipped(before, after):
                flips.append(Flip(product.sku, dest, before, after))
        if progress is not None:
            progress(len(destinations))
    return flips


def change_instants(engines: Sequence[Engine], start: datetime, end: datetime) -> list[datetime]:
    """``start`` and every instant in ``[start, end)`` where a rule of any of the rulesets
    starts or stops applying (its ``effective_from``, its ``effective_until``): between two
    of them no decision of either ruleset can change."""
    instants = {start}
    for engine in engines:
        for rule in engine.ruleset.rules:
            for when in (rule.effective_from, rule.effective_until):
                if when is not None and start < when < end:
                    instants.add(when)
    return sorted(instants)


@dataclass(frozen=True)
class TimedFlip:
    """A flip and when it holds: from ``since`` until ``until`` (None: to the window's end)."""

    flip: Flip
    since: datetime
    until: datetime | None

    @property
    def when(self) -> str:
        since = self.since.strftime("%Y-%m-%d %H:%M")
        return f"from {since}" + (f" until {self.until:%Y-%m-%d %H:%M}" if self.until else "")


def diff_over_time(
    old: Engine,
    new: Engine,
    products: Sequence[Product],
    destinations: Sequence[Destination],
    start: datetime,
    end: datetime,
    progress: Callable[[int], None] | None = None,
) -> list[TimedFlip]:
    """Every (product, destination) decision the change flips at some instant of
    ``[start, end)``, with the instant it starts (and stops) flipping. Decided at each
    instant where either ruleset changes (:func:`change_instants`), so a rule dated in the
    future is seen without guessing the date."""
    instants = change_instants((old, new), start, end)
    open_flips: dict[tuple[str, Destination], tuple[Flip, datetime]] = {}
    out: list[TimedFlip] = []
    for at in instants:
        now = {
            (f.sku, f.destination): f for f in diff_decisions(old, new, products, destinations, at)
        }
        for key, (flip, since) in list(open_flips.items()):
            current = now.get(key)
            if current is None or (current.old, current.new) != (flip.old, flip.new):
                out.append(TimedFlip(flip, since, at))
                del open_flips[key]
        for key, flip in now.items():
            if key not in open_flips:
                open_flips[key] = (flip, at)
        if progress is not None:
            progress(1)
    out.extend(TimedFlip(flip, since, None) for flip, since in open_flips.values())
    return sorted(out, key=lambda t: (t.since, t.flip.sku, t.flip.where))


@dataclass(frozen=True)
class OrderFlip:
    order_id: str
    status: str
    created_at: str
    old: DecisionSummary | None
    new: DecisionSummary | None
    problem: str | None = None  # the order could not be read (old/new are None)
    # What was decided: "destination", or "billing CC" (the payment check's screen of the
    # billing address: a sanction, or anything for a digital line).
    on: str = "destination"


def _billing_summary(decision: CartDecision, digital: set[str]) -> DecisionSummary:
    """What the payment check refuses on a billing address: sanctions whatever is bought,
    anything for a digital line (its only place)."""
    refused = {
        reason.rule_id
        for item in decision.items
        for reason in item.reasons
        if reason.code in EMBARGO_CODES or item.sku in digital
    }
    return DecisionSummary(not refused, None, tuple(sorted(refused)), ())


def diff_orders(
    old: Engine, new: Engine, orders: Iterable[Order], at: datetime | None = None
) -> list[OrderFlip]:
    """Orders the new ruleset decides differently, each judged at ``at`` (default: the time
    it was created, with the products as they were at checkout). Orders whose products or
    time cannot be read are listed with ``problem`` set. Each is decided on its destination
    and, once paid, on its billing address as the payment check screens it (a sanction
    change flips held and paid orders there, digital-only ones included). The orders come
    typed: the order repository's translation reads the table."""
    out: list[OrderFlip] = []
    for order in orders:
        billing = order.billing()
        if order.destination is None and billing is None:
            continue
        try:
            lines = order.cart_lines()
            when = at or parse_iso(order.created_at)
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            problem = str(exc).splitlines()[0]
            out.append(
                OrderFlip(order.order_id, order.status, order.created_at, None, None, problem)
            )
            continue
        if not lines:
            continue
        flip = partial(OrderFlip, order.order_id, order.status, order.created_at)
        if order.destination is not None:
            before = summarize(old.decide(lines, order.destination, when))
            after = summarize(new.decide(lines, order.destination, when))
            if _flipped(before, after):
                out.append(flip(before, after))
        if billing is not None:
            digital = {line.product.sku for line in lines if line.product.kind == "digital"}
            before = _billing_summary(old.decide(lines, billing, when), digital)
            after = _billing_summary(new.decide(lines, billing, when), digital)
            if before != after:
                out.append(flip(before, after, on=f"billing {billing.country}"))
    return out
