from __future__ import annotations

import pytest
from pydantic import ValidationError

from bonestore.domain.catalog import Product, seed_catalog
from bonestore.domain.product_view import public_product

pytestmark = pytest.mark.unit


def test_seed_catalog_is_the_policy_table() -> None:
    products = {p.sku: p for p in seed_catalog()}
    assert set(products) == {
        "TRUEOSTEO-120",
        "D3K2-60",
        "RESTWELL-60",
        "BONE-APPETIT-BOOK",
        "DENSERCISE-DVD",
        "DENSERCISE-EBOOK",
        "ORP-EBOOK",
    }
    assert products["TRUEOSTEO-120"].price.amount == 4995
    assert products["ORP-EBOOK"].price.amount == 9700
    assert products["TRUEOSTEO-120"].attributes.supply_days == 30
    d3 = products["D3K2-60"].attributes.ingredients["vitamin_d3"]
    assert (d3.amount, d3.unit) == (5000, "IU")
    assert "melatonin" in products["RESTWELL-60"].attributes.ingredients
    assert products["DENSERCISE-EBOOK"].kind == "digital"
    assert products["DENSERCISE-EBOOK"].stock is None


def _product(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sku": "TEST-1",
        "name": "Test",
        "kind": "physical",
        "category": "book",
        "price": {"amount": 100, "currency": "usd"},
        "stock": 3,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    "overrides",
    [
        {"stock": None},  # physical goods need stock
        {"kind": "digital"},  # digital goods have none
        {"category": "supplement"},  # supplements need supply_days
        {"price": {"amount": 9.99, "currency": "USD"}},  # money is never a float
        {"price": {"amount": -1, "currency": "USD"}},
        {"sku": "lower case"},
    ],
)
def test_invalid_products_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Product.model_validate(_product(**overrides))


def test_public_view_hides_stock_but_says_in_stock() -> None:
    stored = Product.model_validate(_product(stock=0)).model_dump()
    view = public_product(stored)
    assert view["in_stock"] is False
    assert "stock" not in view
    assert view["price"] == {"amount": 100, "currency": "USD"}


def test_public_view_of_an_item_stored_in_lower_case_names_the_iso_currency() -> None:
    """An item written before Money upper-cased codes (or straight into the table) is
    shown as the model would read it, never as "usd"."""
    stored = Product.model_validate(_product(stock=3)).model_dump()
    legacy = {**stored, "price": {"amount": 100, "currency": "usd"}}
    assert public_product(legacy)["price"] == {"amount": 100, "currency": "USD"}


def pill(ingredients: dict[str, object]) -> Product:
    return Product.model_validate(
        {
            "sku": "PILL-1",
            "name": "Pill",
            "kind": "physical",
            "category": "supplement",
            "price": {"amount": 100, "currency": "USD"},
            "stock": 1,
            "attributes": {"supply_days": 30, "ingredients": ingredients},
        }
    )


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("melatonin", "melatonin"),
        ("Melatonin", "melatonin"),
        ("MELATONIN", "melatonin"),
        (" melatonin", "melatonin"),
        ("\tmelatonin \n", "melatonin"),
        ("Vitamin D3", "vitamin_d3"),
        (" vitamin  _ d3 ", "vitamin_d3"),
        ("Strontium_Citrate", "strontium_citrate"),
        ("melatonine", "melatonine"),  # a misspelling stays one: the vocabulary refuses it
    ],
)
def test_ingredient_names_are_normalized(written: str, stored: str) -> None:
    product = pill({written: {}})
    assert list(product.attributes.ingredients) == [stored]


@pytest.mark.parametrize("ingredients", [{"Calcium": {}, " calcium": {}}, {"  ": {}}])
def test_ambiguous_or_empty_ingredient_names_are_refused(ingredients: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        pill(ingredients)


def test_unknown_ingredients_against_a_vocabulary() -> None:
    from bonestore.domain.catalog import unknown_ingredients

    restwell = {p.sku: p for p in seed_catalog()}["RESTWELL-60"]
    assert unknown_ingredients(restwell, ["melatonin", "calcium"]) == []
    assert unknown_ingredients(restwell, ["calcium"]) == ["melatonin"]
    assert unknown_ingredients(restwell, []) == ["melatonin"]  # no vocabulary: fail closed
