"""One contract, two order stores: the in-memory fake every unit test uses
(``tests.fakes.MemoryOrders``) and the DynamoDB adapter on moto (tables from
template.yaml). Whatever the fake lets a test believe, the real store does too."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bonestore.domain.money import Money
from bonestore.domain.order import (
    Address,
    Order,
    OrderEvent,
    OrderLine,
    OrderMoved,
    OutOfStock,
    ShippingChoice,
    StockLine,
)
from bonestore.domain.orders import now_iso
from bonestore.service.ports import OrderStore
from tests.fakes import MemoryOrders

pytestmark = pytest.mark.integration


@dataclass
class Store:
    orders: OrderStore
    add_product: Callable[[str, int], None]
    stock_of: Callable[[str], tuple[int, int]]  # (available, reserved)


def _memory() -> Store:
    fake = MemoryOrders()

    def add(sku: str, stock: int) -> None:
        fake.stock[sku] = [stock, 0]

    return Store(fake, add, lambda sku: (fake.stock[sku][0], fake.stock[sku][1]))


def _dynamodb() -> Store:
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.api.deps import order_repository
    from bonestore.config import get_settings

    client, table = dynamodb_client(), get_settings().products_table

    def add(sku: str, stock: int) -> None:
        # A whole product (the stack is shared: a partial item would break every test that
        # reads the catalog, such as the admin's ruleset report).
        client.put_item(
            TableName=table,
            Item={
                "sku": {"S": sku},
                "name": {"S": "Contract test book"},
                "kind": {"S": "physical"},
                "category": {"S": "book"},
                "price": {"M": {"amount": {"N": "1250"}, "currency": {"S": "USD"}}},
                "stock": {"N": str(stock)},
                "reserved": {"N": "0"},
                "sold": {"N": "0"},
                "received": {"N": str(stock)},
                "active": {"BOOL": True},
            },
        )

    def stock_of(sku: str) -> tuple[int, int]:
        item = client.get_item(TableName=table, Key={"sku": {"S": sku}}, ConsistentRead=True)
        return int(item["Item"]["stock"]["N"]), int(item["Item"]["reserved"]["N"])

    return Store(order_repository(), add, stock_of)


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return _memory()
    request.getfixturevalue("local_stack")
    return _dynamodb()


def new_order(sku: str, quantity: int = 2, *, email: str | None = None) -> Order:
    price = Money(amount=1250, currency="USD")
    created = now_iso()
    return Order(
        order_id=f"ord_contract{uuid.uuid4().hex[:16]}",
        status="pending_payment",
        created_at=created,
        updated_at=created,
        currency="USD",
        lines=(OrderLine(sku, quantity, price, {"sku": sku, "kind": "physical", "name": "Bone"}),),
        amount_subtotal=price.times(quantity),
        amount_total=price.times(quantity),
        email=email,
        stock_lines=(StockLine(sku, quantity),),
        reservation_expires_at="2000-01-01T00:00:00.000Z",
        events=(OrderEvent("checkout_created", {"eligible": True}, at=created),),
    )


def _sku() -> str:
    return f"CONTRACT-{uuid.uuid4().hex[:10].upper()}"


def test_created_orders_read_back_equal_and_reserve_stock(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 5)
    order = new_order(sku, 2, email="Jane@Example.com")
    created = store.orders.create_with_reservation(order)
    assert (created.stock_state, created.reservation) == ("reserved", "pending")
    assert store.orders.get(order.order_id) == created
    assert store.stock_of(sku) == (3, 2)


def test_out_of_stock_writes_nothing(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 1)
    order = new_order(sku, 2)
    with pytest.raises(OutOfStock) as raised:
        store.orders.create_with_reservation(order)
    assert raised.value.details == [{"sku": sku}]
    assert store.orders.get(order.order_id) is None
    assert store.stock_of(sku) == (1, 0)


def test_paid_commits_the_stock_and_writes_the_changes(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 5)
    created = store.orders.create_with_reservation(new_order(sku, 2))
    address = Address(country="US", name="Jane", line1="1 Main St", line2="Apt 2", city="X",
                      subdivision="US-IL", postal_code="62701")  # fmt: skip
    method = ShippingChoice("standard", "Standard", Money(amount=595, currency="USD"))
    paid = store.orders.transition(
        created,
        "paid",
        event=OrderEvent("checkout.session.completed", {"event_id": "evt_1"}),
        updated=replace(
            created, shipping_address=address, shipping_method=method, billing_country="US"
        ),
    )
    assert paid is not None and paid == store.orders.get(created.order_id)
    assert (paid.status, paid.stock_state, paid.reservation) == ("paid", "committed", None)
    assert (paid.shipping_address, paid.shipping_method) == (address, method)
    assert paid.billing_country == "US"
    assert [e.type for e in paid.events] == ["checkout_created", "checkout.session.completed"]
    assert store.stock_of(sku) == (3, 0)
    assert (
        store.orders.expired_reservations("2100-01-01T00:00:00.000Z", limit=1000).count(
            paid.order_id
        )
        == 0
    )


def test_a_late_event_is_recorded_and_changes_nothing(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 5)
    created = store.orders.create_with_reservation(new_order(sku, 2))
    paid = store.orders.transition(created, "paid", event=OrderEvent("paid"))
    assert paid is not None
    late = store.orders.transition(created, "expired", event=OrderEvent("expired"))
    assert late is None
    now = store.orders.get(created.order_id)
    assert now is not None and now.status == "paid"
    assert now.events[-1].type == "expired" and now.events[-1].detail.get("ignored") is True
    assert store.stock_of(sku) == (3, 0)


def test_expiry_releases_the_stock_once(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 5)
    created = store.orders.create_with_reservation(new_order(sku, 2))
    assert created.order_id in store.orders.expired_reservations(
        "2100-01-01T00:00:00.000Z", limit=1000
    )
    expired = store.orders.transition(created, "expired", event=OrderEvent("expired"))
    assert expired is not None and expired.stock_state == "released"
    assert store.orders.transition(created, "expired", event=OrderEvent("expired")) is None
    assert store.stock_of(sku) == (5, 0)
    refunded = store.orders.transition(expired, "refunded", event=OrderEvent("refunded"))
    assert refunded is not None and store.stock_of(sku) == (5, 0)


def test_save_is_conditioned_on_the_status(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 5)
    created = store.orders.create_with_reservation(new_order(sku, 1))
    store.orders.save(
        created, replace(created, stripe_session_id="cs_1", reservation="awaiting_payment")
    )
    saved = store.orders.get(created.order_id)
    assert saved is not None
    assert (saved.stripe_session_id, saved.reservation) == ("cs_1", "awaiting_payment")
    assert created.order_id not in store.orders.expired_reservations(
        "2100-01-01T00:00:00.000Z", limit=1000
    )
    store.orders.transition(saved, "paid", event=OrderEvent("paid"))
    with pytest.raises(OrderMoved):
        store.orders.save(saved, replace(saved, checkout_url="https://late"))


def test_find_by_email_is_case_insensitive_newest_first(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 10)
    email = f"c-{uuid.uuid4().hex[:8]}@Example.com"
    first = store.orders.create_with_reservation(new_order(sku, 1, email=email))
    second = store.orders.create_with_reservation(
        replace(new_order(sku, 1, email=email), created_at="2999-01-01T00:00:00.000Z")
    )
    found, token = store.orders.find_by_email(email.upper(), limit=1)
    assert [o.order_id for o in found] == [second.order_id] and token
    rest, _ = store.orders.find_by_email(email, limit=5, next_token=token)
    assert [o.order_id for o in rest] == [first.order_id]


def test_items_written_by_earlier_versions_still_load(local_stack: Any) -> None:
    """Money as bare minor units, the address split over shipping_address and
    shipping_details, no stock_state: the item format of the first releases."""
    from bonestore.adapters.dynamo import dynamodb_client, to_item
    from bonestore.api.deps import order_repository
    from bonestore.config import get_settings

    order_id = f"ord_old{uuid.uuid4().hex[:12]}"
    dynamodb_client().put_item(
        TableName=get_settings().orders_table,
        Item=to_item(
            {
                "order_id": order_id,
                "status": "paid",
                "created_at": "2026-01-01T00:00:00.000Z",
                "currency": "usd",
                "items": [{"sku": "X", "quantity": 1, "unit_price": 995, "product": {"sku": "X"}}],
                "amount_subtotal": 995,
                "amount_total": {"amount": 1590, "currency": "USD"},
                "shipping": {
                    "method": "standard",
                    "name": "Standard",
                    "price": {"amount": 595, "currency": "USD"},
                },
                "shipping_address": {"country": "US", "subdivision": "US-IL", "line1": "1 Main"},
                "shipping_details": {"name": "Jane", "address": {"line1": "1 Main", "line2": "2B"}},
                "events": [{"at": "2026-01-01T00:00:00.000Z", "type": "checkout_created"}],
            }
        ),
    )
    order = order_repository().get(order_id)
    assert order is not None
    assert order.lines[0].unit_price == Money(amount=995, currency="USD")
    assert order.amount_subtotal == Money(amount=995, currency="USD")
    assert order.shipping_method == ShippingChoice(
        "standard", "Standard", Money(amount=595, currency="USD")
    )
    assert order.shipping_address == Address(
        country="US", name="Jane", line1="1 Main", line2="2B", subdivision="US-IL"
    )
    assert order.stock_state == "none" and order.events[0].detail == {}


def _held(sku: str, quantity: int, holder: str, cart: str | None = None) -> Order:
    """An order counted against ``holder``'s share, its checkout open for 30 minutes."""
    from datetime import UTC, datetime, timedelta

    from bonestore.domain.orders import iso

    expires = iso(datetime.now(UTC) + timedelta(minutes=30))
    return replace(
        new_order(sku, quantity), holder=holder, cart_key=cart, reservation_expires_at=expires
    )


def test_a_holders_share_is_taken_with_the_reservation_and_given_back_by_the_move(
    store: Store,
) -> None:
    from bonestore.domain.limits import HoldLimits, RateLimited

    sku, holder = _sku(), f"e:contract-{uuid.uuid4().hex}"
    store.add_product(sku, 10)
    limits = HoldLimits(max_units_per_sku=3, max_open_reservations=2)
    first = store.orders.create_with_reservation(_held(sku, 2, holder), limits=limits)
    assert first.holder == holder
    with pytest.raises(RateLimited) as units:
        store.orders.create_with_reservation(_held(sku, 2, holder), limits=limits)
    assert [d["limit"] for d in units.value.details or []] == ["units_per_sku"]
    store.orders.create_with_reservation(_held(sku, 1, holder), limits=limits)
    with pytest.raises(RateLimited) as opened:
        store.orders.create_with_reservation(_held(sku, 1, holder), limits=limits)
    assert [d["limit"] for d in opened.value.details or []] == ["open_reservations"]
    with pytest.raises(RateLimited):  # a cart alone over the share, whoever holds nothing
        store.orders.create_with_reservation(
            _held(sku, 4, f"e:new-{uuid.uuid4().hex}"), limits=limits
        )
    assert store.stock_of(sku) == (7, 3)

    store.orders.transition(first, "expired", event=OrderEvent("reservation_swept", {}))
    store.orders.create_with_reservation(_held(sku, 2, holder), limits=limits)
    assert store.stock_of(sku) == (7, 3)  # the first's 2 back, 2 taken again
    # Without limits nothing is counted, and the order says so.
    uncounted = store.orders.create_with_reservation(_held(sku, 1, holder))
    assert uncounted.holder is None


def test_the_same_cart_while_its_checkout_is_open_is_that_checkout(store: Store) -> None:
    from bonestore.domain.limits import CartAlreadyOpen, HoldLimits

    sku, holder = _sku(), f"e:contract-{uuid.uuid4().hex}"
    cart = f"cart:{holder}:same"
    store.add_product(sku, 10)
    limits = HoldLimits(max_units_per_sku=10, max_open_reservations=5)
    first = store.orders.create_with_reservation(_held(sku, 2, holder, cart), limits=limits)
    with pytest.raises(CartAlreadyOpen) as again:
        store.orders.create_with_reservation(_held(sku, 2, holder, cart), limits=limits)
    assert again.value.order.order_id == first.order_id
    assert store.stock_of(sku) == (8, 2)
    # Once it no longer holds stock, the same cart opens a new checkout.
    store.orders.transition(first, "expired", event=OrderEvent("reservation_swept", {}))
    second = store.orders.create_with_reservation(_held(sku, 2, holder, cart), limits=limits)
    assert second.order_id != first.order_id
    assert store.stock_of(sku) == (8, 2)


def test_the_share_comes_back_once_when_the_order_leaves_pending_payment(store: Store) -> None:
    """Held for support (stock still reserved) gives the share back; refunding it later
    must not give it back a second time."""
    from bonestore.domain.limits import HoldLimits, RateLimited

    sku, holder = _sku(), f"e:contract-{uuid.uuid4().hex}"
    store.add_product(sku, 10)
    limits = HoldLimits(max_units_per_sku=3, max_open_reservations=2)
    first = store.orders.create_with_reservation(_held(sku, 2, holder), limits=limits)
    held = store.orders.transition(first, "held", event=OrderEvent("payment_held", {}))
    assert held is not None and held.stock_state == "reserved"
    store.orders.create_with_reservation(_held(sku, 3, holder), limits=limits)  # whole share
    store.orders.transition(held, "refunded", event=OrderEvent("refunded", {}))
    with pytest.raises(RateLimited):
        store.orders.create_with_reservation(_held(sku, 1, holder), limits=limits)


def test_an_email_is_claimed_once_until_released_or_lapsed(store: Store) -> None:
    sku = _sku()
    store.add_product(sku, 5)
    order = store.orders.create_with_reservation(new_order(sku, 1))
    claim = store.orders.claim_email
    now, lease = 1_800_000_000, 120
    assert claim(order.order_id, "order_paid", now=now, lease_seconds=lease)
    assert not claim(order.order_id, "order_paid", now=now + lease, lease_seconds=lease)
    assert claim(order.order_id, "order_held", now=now, lease_seconds=lease)  # per kind
    assert claim(order.order_id, "order_paid", now=now + lease + 1, lease_seconds=lease)
    store.orders.release_email(order.order_id, "order_paid")
    assert claim(order.order_id, "order_paid", now=now + lease + 1, lease_seconds=lease)
    assert store.orders.get(order.order_id) == order  # the claims are not the order's data


def test_no_order_no_claim_and_no_stray_item(store: Store) -> None:
    missing = f"ord_missing{uuid.uuid4().hex[:12]}"
    assert not store.orders.claim_email(missing, "order_paid", now=1, lease_seconds=120)
    store.orders.release_email(missing, "order_paid")
    assert store.orders.get(missing) is None
