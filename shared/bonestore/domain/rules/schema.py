"""The ruleset's schema: what ops write in ``ruleset.yaml`` (see docs/rules.md)."""

from __future__ import annotations

import hashlib
import json
import re
import string
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bonestore.domain.catalog import IngredientUnit, ProductKind
from bonestore.domain.money import Money
from bonestore.domain.orders import in_utc

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,80}$")]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,60}$")]
GroupName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{2,40}$")]
MethodId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,30}$")]

# Placeholders a message may use; filled per line (see Engine).
MESSAGE_FIELDS = frozenset(
    {"country", "country_name", "subdivision", "sku", "product_name", "max_quantity"}
)
Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "exists"]
IngredientOp = Literal["present", "eq", "gt", "ge", "lt", "le"]
IngredientName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,60}$")]


class _Strict(BaseModel):
    # defer_build: a cold start loads the ruleset compiled at build time (rules/compiled.py),
    # which needs these classes but never validates with them; their validators (~100 ms
    # of pydantic schema building) are built on first validation instead (YAML, lint).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PostalRange(_Strict):
    """Inclusive range over the compact code (no spaces/dashes; US: the 5-digit ZIP)."""

    from_: Annotated[str, Field(alias="from", min_length=1, max_length=12)]
    to: Annotated[str, Field(min_length=1, max_length=12)]

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # YAML reads 10001 as a number

    @model_validator(mode="after")
    def _ordered(self) -> PostalRange:
        if len(self.from_) != len(self.to):
            raise ValueError("a postal range's bounds must have the same length")
        if self.from_ > self.to:
            raise ValueError(f"postal range {self.from_}-{self.to} ends before it starts")
        return self


class PostalCondition(_Strict):
    ranges: list[PostalRange] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)  # regexes, full match on the compact code

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _something(self) -> PostalCondition:
        if not self.ranges and not self.patterns:
            raise ValueError("postal_codes needs ranges or patterns")
        return self


class DestinationCondition(_Strict):
    """Every field given must match; a list matches when any of its entries does."""

    countries: list[str] | None = None  # alpha-2 codes or group names
    subdivisions: list[str] | None = None  # ISO 3166-2, plus US-AA/US-AE/US-AP
    postal_codes: PostalCondition | None = None
    po_box: bool | None = None

    @field_validator("countries", "subdivisions")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("an empty list never matches; leave the field out instead")
        return [v.strip().upper() for v in value]


class AttributeTest(_Strict):
    """A product attribute (``supply_days`` or an extra attribute) compared with a value."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,60}$")]
    op: Op = "exists"
    value: str | int | Decimal | bool | list[str | int | Decimal] | None = None

    @model_validator(mode="after")
    def _value_fits(self) -> AttributeTest:
        if self.op == "exists":
            if self.value is not None:
                raise ValueError("op exists takes no value")
        elif self.op == "in":
            if not isinstance(self.value, list):
                raise ValueError("op in needs a list value")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op} needs a single value")
        return self


class IngredientTest(_Strict):
    """Matches when any of the named ingredients is present (``present``) or has a daily
    amount satisfying the comparison. A comparison on an unknown amount is a rule error."""

    any_of: Annotated[list[IngredientName], Field(min_length=1)]
    op: IngredientOp = "present"
    value: Decimal | None = None
    unit: IngredientUnit | None = None

    @model_validator(mode="after")
    def _value_fits(self) -> IngredientTest:
        if self.op == "present":
            if self.value is not None or self.unit is not None:
                raise ValueError("op present takes no value or unit")
        elif self.value is None or self.unit is None:
            raise ValueError(f"op {self.op} needs a value and a unit")
        return self


class ProductCondition(_Strict):
    kinds: list[ProductKind] | None = None
    categories: list[str] | None = None
    skus: list[str] | None = None
    attributes: list[AttributeTest] | None = None
    ingredients: list[IngredientTest] | None = None  # all tests must match


class Conditions(_Strict):
    destination: DestinationCondition = Field(default_factory=DestinationCondition)
    product: ProductCondition = Field(default_factory=ProductCondition)


# A date (midnight UTC) or a date-time; a naive time is UTC.
Instant = Annotated[
    datetime | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
                {"type": "null"},
            ]
        }
    ),
]


class _RuleBase(_Strict):
    """What every rule has; the effect's own parameters live on its subclass below."""

    id: RuleId
    effect: str  # each subclass narrows it to its own literal: the union's discriminator
    when: Conditions = Field(default_factory=Conditions)
    effective_from: Instant = None  # inclusive
    effective_until: Instant = None  # exclusive
    code: Code
    message: Annotated[str, Field(min_length=1, max_length=300)]
    note: str = ""
    source: Annotated[str, Field(min_length=1, max_length=500)]

    @field_validator("message")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"message: {exc} (write {{{{ and }}}} for literal braces)") from exc
        for _, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in MESSAGE_FIELDS or spec or conversion:
                raise ValueError(
                    f"message placeholder {{{name}}} is unknown "
                    f"(known: {', '.join(sorted(MESSAGE_FIELDS))})"
                )
        return value

    @field_validator("effective_from", "effective_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """In UTC: a naive time (and a date, which pydantic reads as its midnight) is UTC,
        whatever the zone of the machine that loads it."""
        return None if value is None else in_utc(value)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if (
            self.effective_from is not None
            and self.effective_until is not None
            and self.effective_until <= self.effective_from
        ):
            raise ValueError("effective_until must be after effective_from")
        return self

    def _destination_only(self) -> None:
        if self.when.product != ProductCondition():
            raise ValueError(f"{self.effect} matches the destination only (no product conditions)")


class PermitRule(_RuleBase):
    """Lines it matches may ship (zones; digital everywhere)."""

    effect: Literal["permit"]


class ForbidRule(_RuleBase):
    """Lines it matches may not ship; overrides any permit."""

    effect: Literal["forbid"]


class DefaultRule(_RuleBase):
    """The reason given when nothing permits a line it matches."""

    effect: Literal["default"]


class LimitRule(_RuleBase):
    """At most ``max_quantity`` units, or ``floor(max_supply_days / supply_days)``, per order."""

    effect: Literal["limit"]
    max_quantity: Annotated[int, Field(ge=0, le=100_000)] | None = None
    max_supply_days: Annotated[int, Field(ge=1, le=3650)] | None = None

    @model_validator(mode="after")
    def _one_limit(self) -> LimitRule:
        if (self.max_quantity is None) == (self.max_supply_days is None):
            raise ValueError("effect limit needs exactly one of max_quantity, max_supply_days")
        return self


class OfferMethodRule(_RuleBase):
    """Offers ``method`` at ``price`` where it matches; free from ``free_from`` of goods."""

    effect: Literal["offer_method"]
    method: MethodId
    price: Money
    free_from: Money | None = None

    @model_validator(mode="after")
    def _fits(self) -> OfferMethodRule:
        self._destination_only()
        if self.free_from is not None and self.free_from.currency != self.price.currency:
            raise ValueError("free_from and price must use one currency")
        return self


class RestrictMethodRule(_RuleBase):
    """Withdraws ``method`` where it matches (with product conditions: when a physical line
    matches)."""

    effect: Literal["restrict_method"]
    method: MethodId


class SurchargeRule(_RuleBase):
    """Adds ``amount`` to ``method``'s price where it matches."""

    effect: Literal["surcharge"]
    method: MethodId
    amount: Money

    @model_validator(mode="after")
    def _fits(self) -> SurchargeRule:
        # The price is the destination's, before the cart: product conditions would be
        # silently ignored, so they are refused.
        self._destination_only()
        return self


Rule = Annotated[
    PermitRule
    | ForbidRule
    | DefaultRule
    | LimitRule
    | OfferMethodRule
    | RestrictMethodRule
    | SurchargeRule,
    Field(discriminator="effect"),
]
LineRule = PermitRule | ForbidRule | DefaultRule | LimitRule
MethodRule = OfferMethodRule | RestrictMethodRule | SurchargeRule


def rule_method(rule: Rule) -> str | None:
    """The shipping method a method rule is about (None for line rules)."""
    return rule.method if isinstance(rule, MethodRule) else None


class ShippingMethod(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class Ruleset(_Strict):
    schema_version: Literal[1] = 1
    groups: dict[GroupName, list[str]] = Field(default_factory=dict)
    methods: dict[MethodId, ShippingMethod] = Field(default_factory=dict)
    # The ingredient names products and rules share. When given, a rule may name only
    # these: a misspelt ingredient would otherwise match nothing and let goods through.
    ingredients: list[IngredientName] = Field(default_factory=list)
    rules: list[Rule]

    @field_validator("groups")
    @classmethod
    def _upper_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {name: [c.strip().upper() for c in codes] for name, codes in value.items()}

    @model_validator(mode="after")
    def _references(self) -> Ruleset:
        seen: set[str] = set()
        vocabulary = set(self.ingredients)
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            for entry in rule.when.destination.countries or []:
                if len(entry) != 2 and entry not in self.groups:
                    raise ValueError(f"rule {rule.id}: unknown country group {entry!r}")
            method = rule_method(rule)
            if method is not None and method not in self.methods:
                raise ValueError(f"rule {rule.id}: unknown shipping method {method!r}")
            named = {n for test in rule.when.product.ingredients or [] for n in test.any_of}
            unknown = sorted(named - vocabulary) if vocabulary else []
            if unknown:
                raise ValueError(f"rule {rule.id}: ingredients not in `ingredients:`: {unknown}")
        return self

    @model_validator(mode="after")
    def _groups_resolve(self) -> Ruleset:
        for name in self.groups:
            self.group_countries(name)
        return self

    def group_countries(self, name: str, _seen: tuple[str, ...] = ()) -> frozenset[str]:
        """A group's countries; a group may list other groups by name."""
        if name in _seen:
            raise ValueError(f"country group {name!r} includes itself")
        if name not in self.groups:
            raise ValueError(f"unknown country group {name!r}")
        out: set[str] = set()
        for entry in self.groups[name]:
            out |= self._countries_in(entry, (*_seen, name))
        return frozenset(out)

    def _countries_in(self, entry: str, seen: tuple[str, ...] = ()) -> frozenset[str]:
        """A list entry's countries: an alpha-2 code is itself, anything else a group."""
        return frozenset({entry}) if len(entry) == 2 else self.group_countries(entry, seen)

    @property
    def version(self) -> str:
        """A hash of the content: the same rules (in any order) always give the same version."""
        return _version(self)

    def countries_of(self, rule: Rule) -> frozenset[str] | None:
        """The rule's countries with groups expanded; None when it names none (anywhere)."""
        listed = rule.when.destination.countries
        if listed is None:
            return None
        out: set[str] = set()
        for entry in listed:
            out |= self._countries_in(entry)
        return frozenset(out)


def _version(ruleset: Ruleset) -> str:
    body = ruleset.model_dump(mode="json")
    body["rules"] = sorted(body["rules"], key=lambda r: r["id"])
    body["ingredients"] = sorted(body["ingredients"])
    # The keys are sorted below; the methods' order is the order quotes are listed in.
    body["method_order"] = list(body["methods"])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return f"rs-{digest[:12]}"


def ruleset_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``ruleset.yaml``, generated from these models (committed as
    ``data/ruleset.schema.json`` so editors validate the YAML; a test checks it for drift)."""
    schema = Ruleset.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "bonestore shipping ruleset"
    schema["description"] = "Semantics: docs/rules.md. Generated: bonestore rules schema."
    return schema


def ruleset_json_schema_text() -> str:
    return json.dumps(ruleset_json_schema(), indent=2, sort_keys=True) + "\n"
