"""The shipping-eligibility rules: a declarative ruleset (data) and the engine that decides.

See docs/rules.md for the schema and the decision semantics.
"""

from bonestore.domain.rules.engine import (
    CartDecision,
    CartLine,
    Engine,
    LineDecision,
    Reason,
    ShippingMethodQuote,
    default_engine,
)
from bonestore.domain.rules.loader import RulesetError, load_ruleset
from bonestore.domain.rules.schema import Rule, Ruleset

__all__ = [
    "CartDecision",
    "CartLine",
    "Engine",
    "LineDecision",
    "Reason",
    "Rule",
    "Ruleset",
    "RulesetError",
    "ShippingMethodQuote",
    "default_engine",
    "load_ruleset",
]
