"""Shipping methods and their prices (docs/rules.md, "Shipping methods").

A destination's plan (offers, restrictions, surcharges; cached per destination and time
bucket) is made before looking at the cart; the cart then withdraws methods restricted
for one of its physical lines and decides free shipping on its physical subtotal.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination, country_name
from bonestore.domain.money import Money
from bonestore.domain.rules.conditions import CompiledRule, RuleError
from bonestore.domain.rules.decision import RULE_ERROR, Reason

if TYPE_CHECKING:
    from bonestore.domain.rules.engine import CartLine


class ShippingMethodQuote(NamedTuple):
    id: str
    name: str
    price: Money
    # Why it costs what it does beyond the offer's price (surcharges), for the customer.
    reasons: tuple[Reason, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "price": self.price.as_json(),
            "reasons": [r.as_json() for r in self.reasons],
        }


class UnavailableMethod(NamedTuple):
    """A method the destination would be offered but a rule takes away, and why."""

    id: str
    name: str
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "reasons": [r.as_json() for r in self.reasons]}


class PlannedMethod(NamedTuple):
    """A method offered for a destination, quoted for it: the winning offer's price plus
    its surcharges, with their reasons worded for this destination; the quote once the
    cart reaches the offer's free-shipping threshold (the threshold, and the surcharges
    alone), when it has one; and the restrictions that withdraw the method when a
    physical line matches them."""

    paid: ShippingMethodQuote
    free: tuple[Money, ShippingMethodQuote] | None
    restricted_by_product: tuple[CompiledRule, ...]


class MethodPlan(NamedTuple):
    """A destination's methods at a time, before the cart: offered, and taken away (why)."""

    offered: list[PlannedMethod]
    unavailable: list[UnavailableMethod]


_REASON_ORDER = operator.attrgetter("rule_id", "code")


def method_values(dest: Destination, product: Product | None) -> dict[str, str]:
    """A method rule's message placeholders (a by-product restriction names the product)."""
    return {
        "country": dest.country,
        "country_name": country_name(dest.country),
        "subdivision": dest.subdivision or "",
        "sku": product.sku if product else "",
        "product_name": product.name if product else "",
        "max_quantity": "",
    }


def _method_error_reason(c: CompiledRule, method_name: str) -> Reason:
    return Reason(
        rule_id=c.rule_id,
        code=RULE_ERROR,
        message=f"We can't confirm that {method_name} is available to this address right now.",
    )


def _offer_order(c: CompiledRule) -> tuple[int, str]:
    assert c.money is not None
    return (c.money.amount, c.rule_id)


def plan_methods(
    rules: Sequence[CompiledRule],
    dest: Destination,
    po: bool,
    ts: float,
    method_order: dict[str, int],
    method_names: dict[str, str],
) -> MethodPlan:
    """The methods a destination gets at a time, before looking at the cart."""
    offers: dict[str, CompiledRule] = {}
    restricted: dict[str, list[Reason]] = {}
    by_product: dict[str, list[CompiledRule]] = {}
    surcharges: dict[str, list[tuple[Money, Reason]]] = {}
    values = method_values(dest, None)
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
                restricted.setdefault(method, []).append(
                    _method_error_reason(c, method_names[method])
                )
            continue
        if not matched:
            continue
        if c.effect == "restrict_method":
            if c.has_product_conditions:
                by_product.setdefault(method, []).append(c)
            else:
                restricted.setdefault(method, []).append(c.reason(values))
        elif c.effect == "offer_method":
            best = offers.get(method)
            if best is None or _offer_order(c) > _offer_order(best):  # the higher price wins
                offers[method] = c
        else:
            assert c.money is not None
            surcharges.setdefault(method, []).append((c.money, c.reason(values)))
    offered: list[PlannedMethod] = []
    unavailable: list[UnavailableMethod] = []
    for method in sorted(offers, key=lambda m: method_order.get(m, 99)):
        if method in restricted:
            reasons = sorted(restricted[method], key=_REASON_ORDER)
            unavailable.append(UnavailableMethod(method, method_names[method], tuple(reasons)))
            continue
        offer = offers[method]
        price = offer.money
        assert price is not None  # an offer's price (schema)
        applied = [(m, r) for m, r in surcharges.get(method, []) if m.currency == price.currency]
        surcharge = sum(m.amount for m, _ in applied)
        why = tuple(sorted((r for _, r in applied), key=_REASON_ORDER))
        name = method_names[method]
        total = Money(amount=price.amount + surcharge, currency=price.currency)
        free = None
        if offer.free_from is not None:
            surcharge_only = Money(amount=surcharge, currency=price.currency)
            free = (offer.free_from, ShippingMethodQuote(method, name, surcharge_only, why))
        offered.append(
            PlannedMethod(
                ShippingMethodQuote(method, name, total, why),
                free,
                tuple(by_product.get(method, ())),
            )
        )
    return MethodPlan(offered, unavailable)


def _withdrawal(
    c: CompiledRule, product: Product, dest: Destination, po: bool, method_name: str
) -> Reason | None:
    """Why a by-product restriction withdraws the method for this line (None: it does not)."""
    try:
        if not c.match(product, dest, po):
            return None
    except RuleError:
        return _method_error_reason(c, method_name)  # cannot be evaluated: fails closed
    return c.reason(method_values(dest, product))


def price_methods(
    plan: MethodPlan, physical: Sequence[CartLine], dest: Destination, po: bool
) -> tuple[list[ShippingMethodQuote], list[UnavailableMethod]]:
    """The cart's quotes from its destination's plan, and the methods taken away (why)."""
    quotes = []
    unavailable = list(plan.unavailable)
    subtotals: dict[str, int] | None = None  # physical goods, per currency
    for planned in plan.offered:
        quote = planned.paid
        if planned.restricted_by_product:
            why: dict[str, Reason] = {}
            for c in planned.restricted_by_product:
                for line in physical:
                    reason = _withdrawal(c, line.product, dest, po, quote.name)
                    if reason is not None:
                        why.setdefault(c.rule_id, reason)
            if why:
                unavailable.append(UnavailableMethod(quote.id, quote.name, tuple(why.values())))
                continue
        if planned.free is not None:
            threshold, free = planned.free
            if subtotals is None:
                subtotals = {}
                for line in physical:
                    price = line.product.price
                    subtotals[price.currency] = (
                        subtotals.get(price.currency, 0) + price.amount * line.quantity
                    )
            # Free only when every physical line is priced in the threshold's currency.
            if len(subtotals) == 1 and subtotals.get(threshold.currency, -1) >= threshold.amount:
                quote = free
        quotes.append(quote)
    return quotes, unavailable
