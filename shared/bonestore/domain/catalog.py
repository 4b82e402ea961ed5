"""The product catalog: the product model, its categories and kinds, the seed data.

Products are validated with pydantic where they are written (seed, admin) and where the
rules read them (``product_of``); the public view a customer sees
(``bonestore.domain.product_view``) works on plain stored items so the catalog function's
cold start does not pay for importing pydantic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bonestore.domain.money import Money
from bonestore.domain.product_view import DEFAULT_POSITION, is_in_stock

__all__ = [
    "CATEGORIES",
    "KINDS",
    "Category",
    "IngredientAmount",
    "IngredientUnit",
    "Product",
    "ProductAttributes",
    "ProductKind",
    "normalize_ingredient",
    "product_of",
    "seed_catalog",
    "unknown_ingredients",
]

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,63}$"
Sku = Annotated[str, Field(pattern=SKU_PATTERN)]
ProductKind = Literal["physical", "digital"]
# The categories the business sells, stated once: the model, the rules' lint, the bench
# and the tests all derive theirs from this.
Category = Literal["supplement", "book", "media", "program"]
# The units an ingredient's amount is given in (products and rules alike).
IngredientUnit = Literal["mg", "mcg", "g", "IU"]
KINDS: tuple[ProductKind, ...] = get_args(ProductKind)
CATEGORIES: tuple[Category, ...] = get_args(Category)


# DynamoDB's numbers: at most 38 significant digits, magnitudes 1E-130 to 9.99E+125.
_MAX_DIGITS = 38
_EXPONENTS = range(-130, 126)


def _storable_number(number: Decimal, where: str) -> Decimal:
    digits = len(number.as_tuple().digits)
    if (
        not number.is_finite()
        or digits > _MAX_DIGITS
        or (number and number.adjusted() not in _EXPONENTS)
    ):
        raise ValueError(f"{where} is not a number the catalog can store ({number})")
    return number


def _storable(value: Any, where: str) -> Any:
    """An extra attribute's value as the table can hold it and a rule can compare it:
    text, true/false, whole numbers and decimals (a JSON fraction becomes a Decimal, as it
    reads back), and lists or objects of those. Anything else is a 400, not a write that
    fails (floats and 39-digit numbers did, with a 500)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        checked = _storable_number(number, where)
        return value if isinstance(value, int) else checked
    if isinstance(value, list):
        return [_storable(inner, f"{where}[{i}]") for i, inner in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _storable(inner, f"{where}.{key}") for key, inner in value.items()}
    raise ValueError(f"{where} is not text, a number, true/false or a list or object of them")


class IngredientAmount(BaseModel):
    """A daily amount of one ingredient; ``amount`` None means present, amount unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Annotated[Decimal, Field(ge=0)] | None = None
    unit: IngredientUnit | None = None

    @field_validator("amount")
    @classmethod
    def _storable_amount(cls, amount: Decimal | None) -> Decimal | None:
        return None if amount is None else _storable_number(amount, "amount")


def normalize_ingredient(name: str) -> str:
    """An ingredient's name as the ruleset spells it: ``" Vitamin  D3"`` -> ``vitamin_d3``.

    Case and spaces are not meaning: a rule for ``melatonin`` must see ``Melatonin`` and
    ``" MELATONIN "`` too, or those would ship where melatonin may not.
    """
    return "_".join(name.casefold().replace("_", " ").split())


class ProductAttributes(BaseModel):
    """What the rules may match on. Supplements carry supply_days and ingredients. Any
    other attribute is text, true/false, a number of at most 38 significant digits, or a
    list or object of those."""

    model_config = ConfigDict(extra="allow", frozen=True)

    supply_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    ingredients: dict[str, IngredientAmount] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _storable_extras(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value  # pydantic reports the type error
        return {
            key: inner if key in cls.model_fields else _storable(inner, f"attributes.{key}")
            for key, inner in value.items()
        }

    @field_validator("ingredients", mode="before")
    @classmethod
    def _normalized_names(cls, value: object) -> object:
        """Names normalized on every write and read; two spellings of one name are refused."""
        if not isinstance(value, dict):
            return value  # pydantic reports the type error
        normalized: dict[str, object] = {}
        for name, amount in value.items():
            if not isinstance(name, str):
                return value
            key = normalize_ingredient(name)
            if not key:
                raise ValueError("an ingredient name is empty")
            if key in normalized:
                raise ValueError(f"ingredient {key!r} is listed twice")
            normalized[key] = amount
        return normalized


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Sku
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    kind: ProductKind
    category: Category
    price: Money
    # None for digital goods, which have no stock. Written (PUT, seed): the units on hand
    # not yet sold; read back from the table (``product_of``): the units for sale now
    # (``bonestore.adapters.products`` keeps both counters).
    stock: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    attributes: ProductAttributes = Field(default_factory=ProductAttributes)
    active: bool = True
    # Where it is listed: lower first (ties by SKU). Ops set it with PUT /admin/products.
    position: Annotated[int, Field(ge=0, le=1_000_000)] = DEFAULT_POSITION

    @model_validator(mode="after")
    def _stock_matches_kind(self) -> Product:
        if self.kind == "physical" and self.stock is None:
            raise ValueError("a physical product needs stock (0 or more)")
        if self.kind == "digital" and self.stock is not None:
            raise ValueError("a digital product has no stock")
        if self.category == "supplement" and self.attributes.supply_days is None:
            raise ValueError("a supplement needs attributes.supply_days")
        # The policy's supplements are parcels, and digital products "are sold everywhere
        # except under an embargo": a digital supplement would be refused like a parcel.
        if self.category == "supplement" and self.kind == "digital":
            raise ValueError("a supplement is a physical product")
        return self

    @property
    def in_stock(self) -> bool:
        return is_in_stock(self.kind, self.stock)


def product_of(item: Mapping[str, Any]) -> Product:
    """A stored product item as the model the rules match on (the table's own counters
    and timestamps left out)."""
    fields = Product.model_fields
    return Product.model_validate({k: v for k, v in item.items() if k in fields})


def unknown_ingredients(product: Product, vocabulary: Iterable[str]) -> list[str]:
    """The product's ingredients the ruleset does not name (sorted): rules cannot judge
    them, so the product must not be stored. An empty vocabulary knows no ingredient."""
    known = set(vocabulary)
    return sorted(name for name in product.attributes.ingredients if name not in known)


@cache
def seed_catalog() -> tuple[Product, ...]:
    """The seed catalog from ``data/catalog.yaml`` (the business's table)."""
    import yaml

    text = resources.files("bonestore").joinpath("data/catalog.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return tuple(Product.model_validate(item) for item in raw["products"])
