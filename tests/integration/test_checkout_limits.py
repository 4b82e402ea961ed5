"""Issue 15's acceptance, over HTTP through the local stack: one customer cannot hoard a
scarce product, other customers still buy it, and the limits recover when the hoarder's
checkouts expire or the sweeper releases them.

The suite's stack runs with the limits opened wide (tests/conftest.py: the suite is one
client opening hundreds of checkouts a minute); each test here puts its own limits in
place for its duration, as the template's parameters would, and uses its own client
address (``CloudFront-Viewer-Address``, as CloudFront sets it) so no other test's
checkouts count against it.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bonestore_infra import http_json
from bonestore_infra.bench_checkout import Shop
from bonestore_infra.local_stack import LocalStack
from tests.integration.test_checkout_flow import _load_sweeper

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
BOOK = [{"sku": "ORP-EBOOK", "quantity": 1}]  # digital: counted per minute, holds no stock


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def limits(**values: int) -> Any:
    """The checkout function's limits for one test (its environment, read at cold start)."""
    names = {
        "units": "CHECKOUT_MAX_UNITS_PER_SKU",
        "open": "CHECKOUT_MAX_OPEN_RESERVATIONS",
        "per_email": "CHECKOUT_RATE_PER_EMAIL",
        "per_address": "CHECKOUT_RATE_PER_ADDRESS",
    }

    @pytest.fixture
    def fixture() -> Iterator[None]:
        from bonestore.api import deps
        from bonestore.config import get_settings

        saved = {name: os.environ.get(name) for name in names.values()}
        os.environ.update({names[key]: str(value) for key, value in values.items()})
        get_settings.cache_clear()
        deps.reset()
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            get_settings.cache_clear()
            deps.reset()

    return fixture


_addresses = itertools.count(1)


def new_address() -> str:
    """A client address of its own (TEST-NET-3), as ``ip:port`` like CloudFront sends it."""
    return f"203.0.113.{next(_addresses)}:{random.randrange(1024, 65535)}"


def unique_email(name: str) -> str:
    return f"{name}-{random.getrandbits(40):x}@example.com"


def buy(
    shop: Shop,
    items: list[dict[str, Any]],
    *,
    email: str | None,
    address: str,
    cart: str = "",
) -> tuple[int, Any, dict[str, str]]:
    """POST /checkout from ``address``; ``cart`` tells carts apart (their cancel URL)."""
    body: dict[str, Any] = {
        "items": items,
        "success_url": "https://shop.example.com/thanks",
        "cancel_url": f"https://shop.example.com/cart{cart}",
    }
    if email is not None:
        body["email"] = email
    if any(not item["sku"].endswith("EBOOK") for item in items):
        body["shipping_address"] = {
            "name": "Jane Doe",
            "line1": "1 Main St",
            "city": "Springfield",
            **US,
        }
    answer = http_json.request(
        "POST", f"{shop.api}/checkout", body, headers={"CloudFront-Viewer-Address": address}
    )
    return answer.status, answer.json_or_text(), answer.headers


def stock(shop: Shop, sku: str) -> tuple[int, int]:
    product = shop.product(sku)
    return int(product["stock"]), int(product.get("reserved", 0))


def held(shop: Shop, email: str) -> dict[str, int]:
    """The hoarder's counter as stored (open reservations and units per SKU)."""
    from bonestore.adapters.limits import held_stock, hold_pk
    from bonestore.domain.limits import holder_key

    key = holder_key(email, None)
    assert key is not None
    item = shop.dynamodb.get_item(
        TableName=shop.stack.resolver.ref("LimitsTable"), Key=hold_pk(key), ConsistentRead=True
    ).get("Item")
    counted = held_stock(item)
    return {"open": counted.open_reservations, **(counted.units or {})}


def assert_rate_limited(status: int, body: Any, headers: dict[str, str], limit: str) -> None:
    assert status == 429, body
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"][0].isupper()  # a sentence for a person
    assert {d["limit"] for d in body["error"]["details"]} == {limit}
    assert headers["Retry-After"].isdigit() and int(headers["Retry-After"]) >= 1


hoarding_limits = limits(units=4, open=3, per_email=100, per_address=1000)


@pytest.mark.usefixtures("hoarding_limits")
def test_one_email_cannot_hoard_a_scarce_product(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 10)
    hoarder, address = unique_email("hoarder"), new_address()

    first = buy(shop, [{"sku": sku, "quantity": 2}], email=hoarder, address=address, cart="?a")
    assert first[0] == 201, first[1]
    # The same cart again while its checkout is open: that checkout, no new stock.
    again = buy(shop, [{"sku": sku, "quantity": 2}], email=hoarder, address=address, cart="?a")
    assert again[0] == 201, again[1]
    assert again[1]["order_id"] == first[1]["order_id"]
    assert again[1]["checkout_url"] == first[1]["checkout_url"]
    assert again[1]["order_token"] == first[1]["order_token"]
    assert stock(shop, sku) == (8, 2)

    second = buy(shop, [{"sku": sku, "quantity": 2}], email=hoarder, address=address, cart="?b")
    assert second[0] == 201, second[1]
    # At the share (4 units): one more unit is refused, under another address too, and
    # under the same mailbox spelled otherwise.
    for email, where in ((hoarder, address), (hoarder.upper(), new_address())):
        refused = buy(shop, [{"sku": sku, "quantity": 1}], email=email, address=where, cart="?c")
        assert_rate_limited(*refused, limit="units_per_sku")
        assert refused[1]["error"]["details"][0] == {
            "limit": "units_per_sku",
            "sku": sku,
            "max": 4,
            "held": 4,
            "requested": 1,
        }
        # It is told to come back when its checkouts expire (30 minutes), not in a second.
        assert 25 * 60 < int(refused[2]["Retry-After"]) <= 32 * 60
    assert stock(shop, sku) == (6, 4)
    assert held(shop, hoarder) == {"open": 2, sku: 4}

    # Everyone else still buys the rest.
    for n in range(3):
        other = buy(
            shop, [{"sku": sku, "quantity": 2}], email=unique_email(f"c{n}"), address=address
        )
        assert other[0] == 201, other[1]
    assert stock(shop, sku) == (0, 10)

    # Expiry: Stripe expires the first session; the webhook gives its share back.
    assert shop.expire(first[1]["stripe_session_id"])[0] == 200
    assert shop.wait_status(first[1]["order_id"], "expired")["status"] == "expired"
    assert held(shop, hoarder) == {"open": 1, sku: 2}
    back = buy(shop, [{"sku": sku, "quantity": 2}], email=hoarder, address=address, cart="?d")
    assert back[0] == 201, back[1]
    assert held(shop, hoarder) == {"open": 2, sku: 4}

    # The sweeper: reservations whose expiry never came are released with their share.
    counts = _load_sweeper().sweep(now=datetime.now(UTC) + timedelta(hours=1))
    assert counts.get("released", 0) >= 2
    assert held(shop, hoarder) == {"open": 0, sku: 0}
    assert stock(shop, sku) == (10, 0)
    whole_share = buy(shop, [{"sku": sku, "quantity": 4}], email=hoarder, address=address)
    assert whole_share[0] == 201, whole_share[1]
    assert stock(shop, sku) == (6, 4)


@pytest.mark.usefixtures("hoarding_limits")
def test_open_checkouts_per_customer_are_limited(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 10)
    hoarder, address = unique_email("opener"), new_address()
    for n in range(3):
        opened = buy(
            shop, [{"sku": sku, "quantity": 1}], email=hoarder, address=address, cart=f"?{n}"
        )
        assert opened[0] == 201, opened[1]
    refused = buy(shop, [{"sku": sku, "quantity": 1}], email=hoarder, address=address, cart="?4")
    assert_rate_limited(*refused, limit="open_reservations")
    # A digital cart holds no stock, so it is not an open reservation.
    assert buy(shop, BOOK, email=hoarder, address=address)[0] == 201
    # Without an email the client address is the holder, with the same share.
    for n in range(3):
        anonymous = buy(
            shop, [{"sku": sku, "quantity": 1}], email=None, address=address, cart=f"?{n}"
        )
        assert anonymous[0] == 201, anonymous[1]
    assert_rate_limited(
        *buy(shop, [{"sku": sku, "quantity": 1}], email=None, address=address),
        limit="open_reservations",
    )
    assert stock(shop, sku) == (4, 6)


@pytest.mark.usefixtures("hoarding_limits")
def test_a_counter_past_its_expiry_counts_nothing_though_ttl_never_deleted_it(shop: Shop) -> None:
    """moto never applies TTL (and AWS applies it late): the code compares ``expires_at``."""
    from bonestore.adapters.limits import hold_pk
    from bonestore.domain.limits import holder_key

    sku = shop.clone("TRUEOSTEO-120", 10)
    email, address = unique_email("stale"), new_address()
    key = holder_key(email, None)
    assert key is not None
    shop.dynamodb.put_item(
        TableName=shop.stack.resolver.ref("LimitsTable"),
        Item={
            **hold_pk(key),
            "open_reservations": {"N": "3"},
            f"u:{sku}": {"N": "4"},
            "expires_at": {"N": str(int(time.time()) - 1)},
        },
    )
    created = buy(shop, [{"sku": sku, "quantity": 3}], email=email, address=address)
    assert created[0] == 201, created[1]
    assert held(shop, email) == {"open": 1, sku: 3}


rate_limits = limits(units=999, open=100, per_email=3, per_address=5)


@pytest.mark.usefixtures("rate_limits")
def test_checkouts_per_minute_are_limited_per_email_and_per_address(shop: Shop) -> None:
    address = new_address()
    email = unique_email("fast")
    # Wait for a fresh minute if this one is nearly over, so every call below shares it.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    for n in range(3):
        assert buy(shop, BOOK, email=email, address=address, cart=f"?{n}")[0] == 201
    refused = buy(shop, BOOK, email=email, address=address, cart="?x")
    assert_rate_limited(*refused, limit="checkouts_per_minute")
    assert int(refused[2]["Retry-After"]) <= 60
    # Another email from the same address: the address allows 5 (one refused above counted).
    assert buy(shop, BOOK, email=unique_email("b"), address=address)[0] == 201
    assert_rate_limited(
        *buy(shop, BOOK, email=unique_email("c"), address=address), limit="checkouts_per_minute"
    )
    # Another address and email are not affected; an IPv6 client is counted per /64.
    assert buy(shop, BOOK, email=unique_email("d"), address=new_address())[0] == 201
    prefix = f"2001:db8:{random.randrange(65536):x}:1"
    for n in range(5):
        assert buy(shop, BOOK, email=unique_email("v6"), address=f"{prefix}::{n + 1}:443")[0] == 201
    assert_rate_limited(
        *buy(shop, BOOK, email=unique_email("v6"), address=f"{prefix}::99:443"),
        limit="checkouts_per_minute",
    )


def test_a_minute_later_the_rate_counters_start_again(shop: Shop) -> None:
    """The window is in the key: nothing waits for TTL (moto never runs it)."""
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.adapters.limits import CheckoutRateLimiter
    from bonestore.domain.limits import RateLimited

    limiter = CheckoutRateLimiter(dynamodb_client(), shop.stack.resolver.ref("LimitsTable"))
    keys = [(f"e:test-{random.getrandbits(32):x}", 2)]
    start = (time.time() // 60) * 60 + 10
    limiter.hit(keys, start)
    limiter.hit(keys, start + 20)
    with pytest.raises(RateLimited) as refused:
        limiter.hit(keys, start + 30)
    assert refused.value.retry_after == 20
    limiter.hit(keys, start + 50)  # the next minute


def test_when_the_counters_cannot_be_reached_checkout_is_refused_not_let_through(
    shop: Shop,
) -> None:
    """Fail closed: a throttled counter (what a flood causes) is a retryable 503 with
    nothing reserved, never a checkout past the limit, never a 500."""
    from bonestore.adapters.dynamo import dynamodb_client

    sku = shop.clone("TRUEOSTEO-120", 5)

    def throttle(params: dict[str, Any], **_: Any) -> Any:
        sent = params["body"]
        if "rate:" not in (sent.decode() if isinstance(sent, bytes) else sent):
            return None
        error = {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return SimpleNamespace(status_code=400, headers={}), error

    client = dynamodb_client()
    client.meta.events.register("before-call.dynamodb.UpdateItem", throttle)
    try:
        status, body, headers = buy(
            shop, [{"sku": sku, "quantity": 1}], email=unique_email("t"), address=new_address()
        )
    finally:
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", throttle)
    assert status == 503, body
    assert body["error"]["code"] == "service_busy"
    assert headers["Retry-After"] == "1"
    assert stock(shop, sku) == (5, 0)


race_limits = limits(units=999, open=3, per_email=1000, per_address=1000)


@pytest.mark.usefixtures("race_limits")
def test_one_email_racing_itself_gets_exactly_its_share(shop: Shop) -> None:
    """12 checkouts at once by one email, each another cart: the counter is one
    conditional write in the reservation's transaction, so exactly 3 get through."""
    sku = shop.clone("TRUEOSTEO-120", 50)
    email, address = unique_email("racer"), new_address()

    def one(n: int) -> tuple[int, Any, dict[str, str]]:
        return buy(shop, [{"sku": sku, "quantity": 1}], email=email, address=address, cart=f"?{n}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(12)))
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {201: 3, 429: 9}, results
    assert stock(shop, sku) == (47, 3)
    assert held(shop, email) == {"open": 3, sku: 3}


@pytest.mark.usefixtures("race_limits")
def test_the_same_cart_at_once_is_one_checkout(shop: Shop) -> None:
    sku = shop.clone("TRUEOSTEO-120", 50)
    email, address = unique_email("double"), new_address()

    def one(_: int) -> tuple[int, Any, dict[str, str]]:
        return buy(shop, [{"sku": sku, "quantity": 2}], email=email, address=address)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(8)))
    created = {body["order_id"] for status, body, _ in results if status == 201}
    assert len(created) == 1, results
    # The rest saw that checkout, or were told to retry while it was being opened.
    assert all(
        status == 201 or (status == 409 and body["error"]["code"] == "request_in_progress")
        for status, body, _ in results
    ), results
    assert all(h["Retry-After"] == "1" for s, _, h in results if s == 409)
    assert stock(shop, sku) == (48, 2)
