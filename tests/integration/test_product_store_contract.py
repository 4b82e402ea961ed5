"""One contract, two product stores: the in-memory fake the handler and use-case tests use
(``tests.fakes.MemoryProducts``) and the DynamoDB adapter on moto (tables from
template.yaml). Whatever the fake lets a test believe, the real store does too.

The contract is what callers rely on: the catalog function (get, list), carts (get_many),
the admin function (put, deactivate, get with inactive products), and the counters of
``bonestore.adapters.products`` (stock for sale, reserved, sold, received).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bonestore.adapters.products import ProductRepository, ReservedKindChange, StockBelowReserved
from bonestore.domain.catalog import Product, product_of
from bonestore.domain.product_view import public_product
from tests.fakes import MemoryProducts

pytestmark = pytest.mark.integration


@dataclass
class Store:
    products: ProductRepository | MemoryProducts
    # Moves ``quantity`` units from for-sale to reserved, as a checkout's reservation does.
    reserve: Callable[[str, int], None]


def _memory() -> Store:
    fake = MemoryProducts()

    def reserve(sku: str, quantity: int) -> None:
        item = fake.items[sku]
        item["stock"] -= quantity
        item["reserved"] += quantity

    return Store(fake, reserve)


def _dynamodb() -> Store:
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.api.deps import product_repository
    from bonestore.config import get_settings

    client, table = dynamodb_client(), get_settings().products_table

    def reserve(sku: str, quantity: int) -> None:
        client.update_item(
            TableName=table,
            Key={"sku": {"S": sku}},
            UpdateExpression="SET stock = stock - :q, reserved = reserved + :q",
            ExpressionAttributeValues={":q": {"N": str(quantity)}},
        )

    return Store(product_repository(), reserve)


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return _memory()
    request.getfixturevalue("local_stack")
    return _dynamodb()


def _sku() -> str:
    return f"PCONTRACT-{uuid.uuid4().hex[:10].upper()}"


def book(sku: str, stock: int | None = 5, **fields: Any) -> Product:
    data: dict[str, Any] = {
        "sku": sku,
        "name": "Contract book",
        "kind": "physical",
        "category": "book",
        "price": {"amount": 1999, "currency": "USD"},
        "stock": stock,
        **fields,
    }
    return Product.model_validate(data)


def supplement(sku: str) -> Product:
    return Product.model_validate(
        {
            "sku": sku,
            "name": "Contract D3",
            "kind": "physical",
            "category": "supplement",
            "price": {"amount": 1250, "currency": "USD"},
            "stock": 3,
            "attributes": {
                "supply_days": 60,
                "ingredients": {"vitamin_d3": {"amount": "12.5", "unit": "mcg"}},
            },
        }
    )


def counters(item: dict[str, Any] | None) -> tuple[Any, ...]:
    assert item is not None
    return tuple(item.get(name) for name in ("stock", "reserved", "sold", "received"))


def test_a_new_product_reads_back_as_written(store: Store) -> None:
    product = supplement(_sku())
    assert store.products.put(product) == {}  # nothing was there before
    item = store.products.get(product.sku)
    assert product_of(item or {}) == product
    assert counters(item) == (3, 0, 0, 3)
    assert item is not None and item["created_at"] and item["updated_at"]
    assert public_product(item)["in_stock"] is True
    assert store.products.get(_sku()) is None


def test_a_replace_keeps_reservations_and_returns_the_old_item(store: Store) -> None:
    sku = _sku()
    store.products.put(book(sku, 5))
    created = store.products.get(sku)
    assert created is not None
    store.reserve(sku, 2)
    before = store.products.put(book(sku, 4, name="Second edition"))
    assert before["name"] == "Contract book" and counters(before) == (3, 2, 0, 5)
    after = store.products.get(sku)
    assert after is not None and after["name"] == "Second edition"
    # on hand 4 = 2 for sale + 2 held; received = on hand + sold
    assert counters(after) == (2, 2, 0, 4)
    assert after["created_at"] == created["created_at"]


def test_fewer_units_than_reserved_is_refused_and_changes_nothing(store: Store) -> None:
    sku = _sku()
    store.products.put(book(sku, 5))
    store.reserve(sku, 3)
    with pytest.raises(StockBelowReserved) as raised:
        store.products.put(book(sku, 2))
    assert raised.value.details == [{"sku": sku, "reserved": 3}]
    assert counters(store.products.get(sku)) == (2, 3, 0, 5)


def test_a_product_with_reservations_cannot_become_digital(store: Store) -> None:
    sku = _sku()
    store.products.put(book(sku, 5))
    store.reserve(sku, 1)
    with pytest.raises(ReservedKindChange):
        store.products.put(book(sku, None, kind="digital", category="program"))
    item = store.products.get(sku)
    assert item is not None and item["kind"] == "physical" and counters(item) == (4, 1, 0, 5)


def test_a_product_without_reservations_becomes_digital_without_stock(store: Store) -> None:
    sku = _sku()
    store.products.put(book(sku, 5))
    store.products.put(book(sku, None, kind="digital", category="program"))
    item = store.products.get(sku)
    assert item is not None and item["kind"] == "digital" and "stock" not in item
    assert public_product(item)["in_stock"] is True


def test_deactivated_products_are_hidden_unless_asked_for(store: Store) -> None:
    active, inactive = _sku(), _sku()
    store.products.put(book(active))
    store.products.put(book(inactive))
    assert store.products.deactivate(inactive) is True
    assert store.products.deactivate(_sku()) is False  # no such product: nothing created
    assert store.products.get(inactive) is None
    hidden = store.products.get(inactive, include_inactive=True)
    assert hidden is not None and hidden["active"] is False
    assert set(store.products.get_many([active, inactive, _sku()])) == {active}
    listed = {item["sku"] for item in store.products.list()}
    assert active in listed and inactive not in listed
    assert inactive in {item["sku"] for item in store.products.list(include_inactive=True)}


def test_the_list_is_in_listing_order(store: Store) -> None:
    first, second, third = sorted(_sku() for _ in range(3))
    store.products.put(book(third, position=5))
    store.products.put(book(second, position=7))
    store.products.put(book(first, position=7))
    mine = [i["sku"] for i in store.products.list() if i["sku"] in {first, second, third}]
    assert mine == [third, first, second]  # by position, then SKU


def test_get_many_takes_repeats_and_nothing(store: Store) -> None:
    sku = _sku()
    store.products.put(book(sku))
    found = store.products.get_many([sku, sku])
    assert list(found) == [sku] and product_of(found[sku]) == book(sku)
    assert store.products.get_many([]) == {}


def test_an_item_read_is_a_copy(store: Store) -> None:
    sku = _sku()
    store.products.put(book(sku))
    item = store.products.get(sku)
    assert item is not None
    item["name"] = "changed by the caller"
    item["price"]["amount"] = 1
    again = store.products.get(sku)
    assert again is not None and again["name"] == "Contract book"
    assert again["price"]["amount"] == 1999


def test_get_many_takes_more_skus_than_one_batch_read(store: Store) -> None:
    wanted = [_sku(), _sku()]
    for sku in wanted:
        store.products.put(book(sku))
    asked = [_sku() for _ in range(60)] + wanted + [_sku() for _ in range(60)]
    assert set(store.products.get_many(asked)) == set(wanted)
