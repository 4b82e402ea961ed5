"""Shipping methods and their prices (docs/rules.md, "Shipping methods").

A destination's plan (offers, restrictions, surcharges; cached per destination and time
bucket) is made before looking at the cart; the cart then withdraws methods restricted
for one of its physical lines and decides free shipping on its physical subtotal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination
from bonestore.domain.money import Money
from bonestore.domain.rules.conditions import CompiledRule, RuleError
from bonestore.domain.rules.schema import OfferMethodRule

if TYPE_CHECKING:
    from bonestore.domain.rules.engine import CartLine


@dataclass(frozen=True, slots=True)
class ShippingMethodQuote:
    id: str
    name: str
    price: Money

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price.as_json()}


@dataclass(frozen=True, slots=True)
class PlannedMethod:
    """A method offered for a destination: the winning offer, its surcharges, and the
    restrictions that withdraw it when a physical line matches them."""

    method: str
    offer: OfferMethodRule
    surcharge: int
    restricted_by_product: tuple[CompiledRule, ...]


def _offer_order(c: CompiledRule) -> tuple[int, str]:
    assert c.money is not None
    return (c.money.amount, c.rule.id)


def plan_methods(
    rules: Sequence[CompiledRule],
    dest: Destination,
    po: bool,
    ts: float,
    method_order: dict[str, int],
) -> list[PlannedMethod]:
    """The methods a destination gets at a time, before looking at the cart."""
    offers: dict[str, CompiledRule] = {}
    restricted: set[str] = set()
    by_product: dict[str, list[CompiledRule]] = {}
    surcharges: dict[str, list[Money]] = {}
    for c in rules:
        if not c.active(ts):
            continue
        method = c.method
        assert method is not None
        try:
            matched = c.match(None, dest, po)
        except RuleError:
            # A restriction or surcharge that cannot be evaluated removes the method
            # (fails closed); an offer that cannot be evaluated is not made. A restriction
            # with product conditions is judged per line: a definitely false product
            # condition beats the error.
            if c.effect == "restrict_method" and c.has_product_conditions:
                by_product.setdefault(method, []).append(c)
            elif c.effect != "offer_method":
                restricted.add(method)
            continue
        if not matched:
            continue
        if c.effect == "restrict_method":
            if c.has_product_conditions:
                by_product.setdefault(method, []).append(c)
            else:
                restricted.add(method)
        elif c.effect == "offer_method":
            best = offers.get(method)
            if best is None or _offer_order(c) > _offer_order(best):  # the higher price wins
                offers[method] = c
        else:
            assert c.money is not None
            surcharges.setdefault(method, []).append(c.money)
    plan = []
    for method in sorted(offers, key=lambda m: method_order.get(m, 99)):
        if method in restricted:
            continue
        offer = offers[method].rule
        assert isinstance(offer, OfferMethodRule)
        extra = sum(
            m.amount for m in surcharges.get(method, []) if m.currency == offer.price.currency
        )
        plan.append(PlannedMethod(method, offer, extra, tuple(by_product.get(method, ()))))
    return plan


def _withdrawn_for(c: CompiledRule, product: Product, dest: Destination, po: bool) -> bool:
    try:
        return c.match(product, dest, po)
    except RuleError:
        return True  # a restriction that cannot be evaluated withdraws (fails closed)


def price_methods(
    plan: Sequence[PlannedMethod],
    physical: Sequence[CartLine],
    dest: Destination,
    po: bool,
    quote: Any,
) -> list[ShippingMethodQuote]:
    """The cart's quotes from its destination's plan; ``quote(method, amount, currency)``."""
    quotes = []
    subtotals: dict[str, int] | None = None  # physical goods, per currency
    for planned in plan:
        if planned.restricted_by_product and any(
            _withdrawn_for(c, line.product, dest, po)
            for c in planned.restricted_by_product
            for line in physical
        ):
            continue
        offer = planned.offer
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
        quotes.append(quote(planned.method, amount + planned.surcharge, offer.price.currency))
    return quotes
