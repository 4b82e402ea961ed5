"""The shipping-eligibility rules: a declarative ruleset (data) and the engine that decides.

See docs/rules.md for the schema and the decision semantics.
"""

from typing import TYPE_CHECKING, Any

from bonestore.domain.rules.engine import (
    CartDecision,
    CartLine,
    Engine,
    LineDecision,
    Reason,
    ShippingMethodQuote,
    default_engine,
)

if TYPE_CHECKING:
    from bonestore.domain.rules.loader import RulesetError, load_ruleset
    from bonestore.domain.rules.schema import Rule, Ruleset

# Imported on first use: deciding from the artifact compiled at build time needs neither the
# YAML loader nor the schema's models (rules/compiled.py), and a cold start should not pay
# for them.
_LAZY = {
    "RulesetError": "bonestore.domain.rules.loader",
    "load_ruleset": "bonestore.domain.rules.loader",
    "Rule": "bonestore.domain.rules.schema",
    "Ruleset": "bonestore.domain.rules.schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
