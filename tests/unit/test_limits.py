"""The reservation limits as specifications: who a holder is, what counts, when a
counter is empty, what the customer is told; and the checkout use case over the fakes
(a refused checkout reserves nothing, a repeated cart reuses its open checkout)."""

from __future__ import annotations

from typing import Any

import pytest

from bonestore.api.client_address import client_address
from bonestore.config import ConfigError, Settings
from bonestore.domain.errors import Conflict
from bonestore.domain.limits import (
    COUNTER_SLACK_SECONDS,
    HeldStock,
    HoldLimits,
    RateLimited,
    RateLimits,
    address_key,
    counter_expiry,
    hold_refusal,
    holder_key,
    normalize_email,
    rate_keys,
    rate_window,
)
from bonestore.service.checkout import CheckoutRequest
from tests.fakes import MemoryGateway

pytestmark = pytest.mark.unit

LIMITS = HoldLimits(max_units_per_sku=4, max_open_reservations=2)
NOW = 1_800_000_000


def test_one_mailbox_is_one_holder_however_it_is_spelled() -> None:
    assert normalize_email("  Jane+Shop@Example.COM ") == "jane@example.com"
    assert holder_key("jane@example.com", "198.51.100.7") == holder_key("JANE+x@example.com", None)
    assert holder_key("jane@example.com", None) != holder_key("joe@example.com", None)
    # No email: the client address holds it; no usable address either: nobody (not counted).
    assert holder_key(None, "198.51.100.7") == holder_key(None, "198.51.100.7")
    assert holder_key(None, "198.51.100.7") != holder_key(None, "198.51.100.8")
    assert holder_key(None, "not an address") is None
    # Keys are digests: the limits table holds no email or address in clear.
    key = holder_key("jane@example.com", None) or ""
    assert "jane" not in key and key.startswith("e:")


def test_ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:198.51.100.7") == address_key("198.51.100.7") == "198.51.100.7"


def test_each_checkout_counts_once_for_its_address_and_once_for_its_email() -> None:
    limits = RateLimits(per_email_per_minute=6, per_address_per_minute=30)
    keys = rate_keys("Jane@example.com", "198.51.100.7", limits)
    assert [limit for _, limit in keys] == [30, 6]  # the address first
    assert rate_keys(None, None, limits) == []


def test_the_window_is_the_minute_and_retry_after_says_when_the_next_starts() -> None:
    assert rate_window(600.0) == (10, 60)
    assert rate_window(659.2) == (10, 1)  # never 0: Retry-After is at least a second
    assert rate_window(630.5) == (10, 30)


def test_a_holder_may_take_up_to_the_share_and_no_more() -> None:
    held = HeldStock(open_reservations=1, units={"BONE": 3}, expires_at=NOW + 2000)
    assert hold_refusal(held, [("BONE", 1)], LIMITS, now=NOW) is None
    refused = hold_refusal(held, [("BONE", 2), ("OTHER", 1)], LIMITS, now=NOW)
    assert isinstance(refused, RateLimited)
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert refused.details == [
        {"limit": "units_per_sku", "sku": "BONE", "max": 4, "held": 3, "requested": 2}
    ]
    # Told to come back when the held checkouts expire.
    assert refused.retry_after == 2000 - COUNTER_SLACK_SECONDS


def test_open_checkouts_are_limited_whatever_their_units() -> None:
    held = HeldStock(open_reservations=2, units={"BONE": 1}, expires_at=NOW + 900)
    refused = hold_refusal(held, [("OTHER", 1)], LIMITS, now=NOW)
    assert refused is not None and refused.details is not None
    assert refused.details[0]["limit"] == "open_reservations"
    assert refused.message.startswith("You already have 2 checkouts open.")


def test_a_counter_past_its_expiry_is_empty() -> None:
    """TTL may not have deleted it (moto never does): its expiry is what counts."""
    stale = HeldStock(open_reservations=2, units={"BONE": 4}, expires_at=NOW)
    assert hold_refusal(stale, [("BONE", 4)], LIMITS, now=NOW) is None
    assert hold_refusal(stale, [("BONE", 5)], LIMITS, now=NOW) is not None  # over alone


def test_a_counter_outlives_its_newest_reservation_by_the_sweepers_grace_and_a_sweep() -> None:
    from bonestore.service.reservations import GRACE_SECONDS

    assert counter_expiry(NOW) - NOW == COUNTER_SLACK_SECONDS
    assert COUNTER_SLACK_SECONDS >= GRACE_SECONDS + 5 * 60  # the sweeper runs every 5 minutes


@pytest.mark.parametrize(
    ("header", "source", "expected"),
    [
        ("198.51.100.7:46532", "130.176.1.1", "198.51.100.7"),  # CloudFront's, not its edge's
        ("2001:db8::7:443", "130.176.1.1", "2001:db8::7"),
        ("[2001:db8::7]:443", None, "2001:db8::7"),
        (None, "198.51.100.9", "198.51.100.9"),  # a direct caller: the connection
        ("garbage", "198.51.100.9", "198.51.100.9"),
        (None, None, None),
    ],
)
def test_the_client_address_is_the_viewer_cloudfront_saw(
    header: str | None, source: str | None, expected: str | None
) -> None:
    assert client_address(header, source) == expected


def test_limit_settings_are_validated_once() -> None:
    settings = Settings.from_environ(
        {"CHECKOUT_MAX_UNITS_PER_SKU": "12", "CHECKOUT_RATE_PER_ADDRESS": "100"}
    )
    assert (settings.checkout_max_units_per_sku, settings.checkout_rate_per_address) == (12, 100)
    assert (settings.checkout_max_open_reservations, settings.checkout_rate_per_email) == (5, 6)
    with pytest.raises(ConfigError) as bad:
        Settings.from_environ(
            {"CHECKOUT_MAX_OPEN_RESERVATIONS": "0", "CHECKOUT_RATE_PER_EMAIL": "many"}
        )
    assert "CHECKOUT_MAX_OPEN_RESERVATIONS must be 1..100" in str(bad.value)
    assert "CHECKOUT_RATE_PER_EMAIL must be 1..1000000" in str(bad.value)


# -- the use case over the fakes ----------------------------------------------------------


def _request(quantity: int = 2, **changes: Any) -> CheckoutRequest:
    from tests.unit.test_use_cases import CART

    cart = {**CART, "items": [{"sku": "TRUEOSTEO-120", "quantity": quantity}], **changes}
    return CheckoutRequest.model_validate(cart)


def test_a_repeated_cart_reuses_its_open_checkout_and_takes_no_stock() -> None:
    from tests.unit.test_use_cases import checkout

    gateway = MemoryGateway()
    service, orders = checkout(gateway)
    first = service.create(_request(), idempotency_key=None, client_address="198.51.100.7")
    again = service.create(_request(), idempotency_key=None, client_address="198.51.100.8")
    assert again == first
    assert len(gateway.sessions) == 1 and orders.stock["TRUEOSTEO-120"] == [8, 2]
    # Another cart, or the same cart for another customer, is a new checkout.
    other = service.create(_request(3), idempotency_key=None)
    theirs = service.create(_request(email="joe@example.com"), idempotency_key=None)
    assert len({first["order_id"], other["order_id"], theirs["order_id"]}) == 3
    assert orders.stock["TRUEOSTEO-120"] == [3, 7]


def test_a_repeat_while_the_first_is_still_opening_is_told_to_retry() -> None:
    from dataclasses import replace

    from tests.unit.test_use_cases import checkout

    service, orders = checkout(MemoryGateway())
    first = service.create(_request(), idempotency_key=None)
    opening = orders.items[first["order_id"]]
    orders.items[opening.order_id] = replace(opening, checkout_url=None)
    with pytest.raises(Conflict) as busy:
        service.create(_request(), idempotency_key=None)
    assert (busy.value.code, busy.value.retry_after) == ("request_in_progress", 1)


def test_a_customer_over_the_share_is_refused_and_nothing_is_reserved() -> None:
    from tests.unit.test_use_cases import checkout

    gateway = MemoryGateway()
    service, orders = checkout(gateway)  # 10 in stock; the share: 20 units, 5 checkouts
    for n in range(5):
        service.create(
            _request(1, cancel_url=f"https://shop.example.com/c{n}"), idempotency_key=None
        )
    with pytest.raises(RateLimited) as refused:
        service.create(_request(1), idempotency_key=None)
    assert refused.value.details is not None
    assert refused.value.details[0]["limit"] == "open_reservations"
    assert orders.stock["TRUEOSTEO-120"] == [5, 5] and len(gateway.sessions) == 5


def test_checkouts_per_minute_are_counted_before_any_work() -> None:
    from tests.unit.test_use_cases import checkout

    gateway = MemoryGateway()
    service, orders = checkout(gateway)  # 6 per email per minute
    digital = {"items": [{"sku": "ORP-EBOOK", "quantity": 1}]}
    for n in range(6):
        service.create(
            _request(**digital, cancel_url=f"https://shop.example.com/{n}"), idempotency_key=None
        )
    with pytest.raises(RateLimited) as refused:
        service.create(_request(**digital), idempotency_key=None)
    assert refused.value.details == [{"limit": "checkouts_per_minute"}]
    assert 1 <= refused.value.retry_after <= 60
    assert len(orders.items) == 6 and len(gateway.sessions) == 6
