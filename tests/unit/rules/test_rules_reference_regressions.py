"""Counterexamples the reference-evaluator property found (test_rules_reference.py), each
pinned as a named test of the rule or clause of docs/rules.md it broke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bonestore.domain.catalog import Product
from bonestore.domain.geo import Destination
from bonestore.domain.rules import CartLine, Engine, Ruleset
from tests.unit.rules.test_rules_reference import assert_agree

pytestmark = pytest.mark.unit

AT = datetime(2026, 6, 1, tzinfo=UTC)
METHODS = {"standard": {"name": "Standard"}, "express": {"name": "Express"}}


def product(sku: str = "P0-PH", kind: str = "physical", **attributes: Any) -> Product:
    return Product.model_validate(
        {
            "sku": sku,
            "name": "Product 0",
            "kind": kind,
            "category": "book",
            "price": {"amount": 500, "currency": "USD"},
            "stock": 5 if kind == "physical" else None,
            "attributes": attributes,
        }
    )


def ruleset(*rules: dict[str, Any]) -> Ruleset:
    return Ruleset.model_validate(
        {
            "methods": METHODS,
            "rules": [{"code": "c_x", "message": "m", "source": "test", **r} for r in rules],
        }
    )


def test_message_without_placeholders_unescapes_literal_braces() -> None:
    """Messages are format strings ("write {{ and }} for literal braces"), with or without
    placeholders: a forbid reading "Literal {{braces}}" shows "Literal {braces}"."""
    rs = ruleset(
        {"id": "forbid-1", "effect": "forbid", "message": "Literal {{braces}} stay single."}
    )
    line = Engine(rs).decide([CartLine(product(), 1)], Destination(country="US"), AT).items[0]
    assert [r.message for r in line.reasons] == ["Literal {braces} stay single."]
    assert_agree(rs, [(product(), 1)], Destination(country="US"), AT)


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_attribute_comparison_on_nan_is_a_rule_error_not_a_crash(op: str) -> None:
    """ "A rule that cannot be evaluated (...) adds a reason with code rule_error": an
    attribute reading "NaN" has no order, so comparing it denies the line (it raised
    decimal.InvalidOperation out of the engine, a 500 at the edge)."""
    rs = ruleset(
        {"id": "permit-all", "effect": "permit"},
        {
            "id": "strong",
            "effect": "forbid",
            "when": {"product": {"attributes": [{"name": "strength", "op": op, "value": 4}]}},
        },
    )
    item = product(strength="NaN")
    line = Engine(rs).decide([CartLine(item, 1)], Destination(country="US"), AT).items[0]
    assert not line.eligible
    assert [(r.rule_id, r.code) for r in line.reasons] == [("strong", "rule_error")]
    assert_agree(rs, [(item, 1)], Destination(country="US"), AT)


OFFER_STANDARD = {
    "id": "offer-standard",
    "effect": "offer_method",
    "method": "standard",
    "price": {"amount": 500, "currency": "USD"},
}


# A ZIP that is not a US ZIP: a postal condition on it cannot be evaluated.
UNREADABLE_ZIP = Destination(country="US", postal_code="ABCDE")


def standard_withdrawn_by_postal_rule_for(category: str) -> list[str]:
    """The methods a cart of one book gets at UNREADABLE_ZIP when standard shipping is
    restricted for ``category`` products at ZIPs starting with 9 (checked against the
    reference evaluator too)."""
    rs = ruleset(
        OFFER_STANDARD,
        {
            "id": "restrict-standard",
            "effect": "restrict_method",
            "method": "standard",
            "when": {
                "destination": {"postal_codes": {"patterns": ["9.*"]}},
                "product": {"categories": [category]},
            },
        },
    )
    assert_agree(rs, [(product(), 1)], UNREADABLE_ZIP, AT)
    decision = Engine(rs).decide([CartLine(product(), 1)], UNREADABLE_ZIP, AT)
    return [m.id for m in decision.shipping_methods]


def test_method_restriction_whose_product_condition_is_false_ignores_a_postal_error() -> None:
    """Three-valued logic ("a condition that is definitely false makes the rule not apply
    even if another of its conditions errors") holds for restrict_method with product
    conditions too: a supplements-only restriction keyed on postal codes does not withdraw
    standard shipping from a cart of books because the ZIP cannot be read."""
    assert standard_withdrawn_by_postal_rule_for("supplement") == ["standard"]


def test_method_restriction_that_cannot_be_judged_on_a_matching_line_withdraws() -> None:
    """The other side of the same clause: when the product condition holds, the postal error
    decides, and a restriction that cannot be evaluated withdraws the method (fail closed)."""
    assert standard_withdrawn_by_postal_rule_for("book") == []


def test_surcharge_with_product_conditions_is_refused() -> None:
    """A surcharge is priced on the destination before the cart is looked at: the engine
    ignored its product conditions (a "supplements only" surcharge charged every cart), so
    the schema refuses them, as it does for offers."""
    with pytest.raises(ValueError, match="surcharge matches the destination only"):
        ruleset(
            OFFER_STANDARD,
            {
                "id": "surcharge-supplements",
                "effect": "surcharge",
                "method": "standard",
                "amount": {"amount": 100, "currency": "USD"},
                "when": {"product": {"categories": ["supplement"]}},
            },
        )


def test_effect_parameters_belong_to_their_effect() -> None:
    """`Rule` is a union discriminated on effect: a forbid with max_quantity is refused."""
    with pytest.raises(ValueError, match="max_quantity"):
        ruleset({"id": "forbid-1", "effect": "forbid", "max_quantity": 3})
    with pytest.raises(ValueError, match="exactly one of max_quantity, max_supply_days"):
        ruleset({"id": "limit-1", "effect": "limit", "max_quantity": 3, "max_supply_days": 60})
