"""Fault injection over the local stack: Stripe failing, slow or answering too late,
DynamoDB throttling and cancelling transactions, a webhook that overtakes the checkout,
a crash between the Stripe call and the order update.

After each: stock is conserved, no order is lost or doubled, and the invariant checker
(``bonestore.service.invariants``) finds nothing. Faults are injected where they
happen in AWS: the Stripe emulator's ``_dev/failures`` switch, and DynamoDB error
responses returned from botocore's ``before-send`` hook (so botocore's own retries run
exactly as they would against DynamoDB).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bonestore.adapters.orders import RESERVE_ATTEMPTS, OrderRepository
from bonestore.adapters.stripe_gateway import READ_TIMEOUT_SECONDS
from bonestore.domain.order import Order
from bonestore_infra.bench_checkout import US_ADDRESS, Shop
from bonestore_infra.check_cli import check_tables
from bonestore_infra.local_stack import LocalStack
from tests.integration.test_checkout_flow import _load_sweeper

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
LAG = timedelta(minutes=10)


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def new_book(shop: Shop, stock: int) -> str:
    return shop.clone("BONE-APPETIT-BOOK", stock, suffix=f"F{uuid.uuid4().hex[:8].upper()}")


def counters(shop: Shop, sku: str) -> tuple[int, int, int]:
    product = shop.product(sku)
    return int(product["stock"]), int(product["reserved"]), int(product.get("sold", 0))


def orders_of(shop: Shop, sku: str) -> list[dict[str, Any]]:
    from bonestore.adapters.dynamo import scan_all

    return [
        order
        for order in scan_all(shop.dynamodb, shop.orders_table, ConsistentRead=True)
        if any(line["sku"] == sku for line in order.get("stock_lines", []))
    ]


def sessions_of(shop: Shop, order_id: str) -> list[dict[str, Any]]:
    store = shop.stack.stripe.store
    with store.lock:
        return [
            dict(s)
            for s in store.all_objects("checkout.session")
            if s.get("client_reference_id") == order_id
        ]


def assert_invariants(shop: Shop, sku: str) -> None:
    violations = check_tables(
        shop.dynamodb, shop.products_table, shop.orders_table, reservation_lag=LAG, skus=[sku]
    )
    assert violations == [], [str(v) for v in violations]


# -- DynamoDB faults, injected as DynamoDB's own error responses ---------------------------


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def dynamodb_error(error_type: str, message: str, **fields: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": message, **fields}
    ).encode()
    headers = {"x-amzn-RequestId": uuid.uuid4().hex, "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse("https://dynamodb.local/", 400, headers, _Body(body))


def throttled() -> Any:
    return dynamodb_error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    )


def transaction_conflict(actions: int) -> Any:
    reasons = [{"Code": "None"}] * actions
    reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    return dynamodb_error(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons",
        CancellationReasons=reasons,
    )


@contextmanager
def dynamodb_faults(
    operation: str, times: int, response: Callable[[dict[str, Any]], Any]
) -> Iterator[list[int]]:
    """The next ``times`` ``operation`` calls of the functions' DynamoDB client get
    ``response(request_body)`` instead of DynamoDB's answer. Yields [injected count]."""
    from bonestore.adapters.dynamo import dynamodb_client

    injected = [0]
    lock = threading.Lock()

    def on_send(request: Any, **_: Any) -> Any:
        with lock:
            if injected[0] >= times:
                return None
            injected[0] += 1
        return response(json.loads(request.body or b"{}"))

    client = dynamodb_client()
    event = f"before-send.dynamodb.{operation}"
    client.meta.events.register(event, on_send)
    try:
        yield injected
    finally:
        client.meta.events.unregister(event, on_send)


# -- Stripe --------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [503, "timeout"])
def test_stripe_failing_at_session_create(shop: Shop, failure: int | str) -> None:
    sku = new_book(shop, 3)
    shop.fail_stripe(2, failure, delay=0.1)  # the SDK's retry fails too
    status, body = shop.checkout([{"sku": sku, "quantity": 2}], US)
    assert status == 503, body
    assert body["error"]["code"] == "payment_provider_unavailable"  # retryable
    assert counters(shop, sku) == (3, 0, 0)
    [order] = orders_of(shop, sku)
    assert order["status"] == "payment_failed" and order["stock_state"] == "released"
    assert_invariants(shop, sku)


def test_stripe_answering_after_the_client_gave_up(shop: Shop) -> None:
    """The session is made but the answer comes after the read timeout: the SDK's retry
    (same idempotency key) gets that same session, not a second one."""
    sku = new_book(shop, 3)
    shop.fail_stripe(1, "late", delay=READ_TIMEOUT_SECONDS + 1)
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 201, body
    [order] = orders_of(shop, sku)
    sessions = sessions_of(shop, order["order_id"])
    assert [s["id"] for s in sessions] == [body["stripe_session_id"]]
    assert order["stripe_session_id"] == body["stripe_session_id"]
    assert counters(shop, sku) == (2, 1, 0)
    assert_invariants(shop, sku)
    done, _ = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
    assert done == 200
    assert shop.wait_status(body["order_id"], "paid", timeout=60)["status"] == "paid"
    assert counters(shop, sku) == (2, 0, 1)
    assert_invariants(shop, sku)


# -- DynamoDB ------------------------------------------------------------------------------


def test_dynamodb_throttling_is_retried_by_botocore(shop: Shop) -> None:
    sku = new_book(shop, 3)
    with dynamodb_faults("TransactWriteItems", 2, lambda _: throttled()) as injected:
        status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert injected == [2]
    assert status == 201, body
    assert counters(shop, sku) == (2, 1, 0)
    assert len(orders_of(shop, sku)) == 1
    assert_invariants(shop, sku)


def test_dynamodb_throttling_that_persists_is_a_retryable_503(shop: Shop) -> None:
    sku = new_book(shop, 3)
    with dynamodb_faults("TransactWriteItems", 100, lambda _: throttled()):
        status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 503, body
    assert body["error"]["code"] == "service_busy"
    assert counters(shop, sku) == (3, 0, 0)
    assert orders_of(shop, sku) == []  # the transaction never happened
    assert_invariants(shop, sku)


def test_a_cancelled_transaction_is_a_retryable_503_not_a_500(shop: Shop) -> None:
    sku = new_book(shop, 3)

    def conflict(request: dict[str, Any]) -> Any:
        return transaction_conflict(len(request["TransactItems"]))

    # A conflict is retried with jitter (RESERVE_ATTEMPTS in all): one that persists is a 503.
    with dynamodb_faults("TransactWriteItems", RESERVE_ATTEMPTS, conflict) as injected:
        status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert injected == [RESERVE_ATTEMPTS]
    assert status == 503, body
    assert body["error"]["code"] == "service_busy"
    assert counters(shop, sku) == (3, 0, 0)
    assert orders_of(shop, sku) == []
    # The client's retry goes through.
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 201, body
    assert_invariants(shop, sku)


def test_a_webhook_whose_transaction_is_cancelled_is_redelivered(shop: Shop) -> None:
    """The payment's transaction is cancelled once: the webhook answers 5xx, Stripe
    delivers again, and the order is paid once with its stock sold once."""
    sku = new_book(shop, 3)
    status, body = shop.checkout([{"sku": sku, "quantity": 2}], US)
    assert status == 201, body

    def conflict(request: dict[str, Any]) -> Any:
        return transaction_conflict(len(request["TransactItems"]))

    with dynamodb_faults("TransactWriteItems", 1, conflict) as injected:
        done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
        assert done == 200 and not result["webhook"]["ok"], result
        order = shop.wait_status(body["order_id"], "paid")
    assert injected == [1]
    assert order["status"] == "paid"
    assert sum(1 for e in order["events"] if e["type"] == "checkout.session.completed") == 1
    assert counters(shop, sku) == (1, 0, 2)
    assert_invariants(shop, sku)


# -- races and crashes around the Stripe call ----------------------------------------------


@contextmanager
def before_session_is_recorded(action: Callable[[str, str], None]) -> Iterator[None]:
    """Runs ``action(order_id, session_id)`` in the checkout, between Stripe's answer
    and the order update that records the session."""
    original = OrderRepository.save

    def save(self: OrderRepository, current: Order, updated: Order, **kw: Any) -> None:
        event = kw.get("event")
        if event is not None and event.type == "stripe_session_created":
            action(current.order_id, str(updated.stripe_session_id))
        original(self, current, updated, **kw)

    OrderRepository.save = save  # type: ignore[method-assign]
    try:
        yield
    finally:
        OrderRepository.save = original  # type: ignore[method-assign]


def test_a_webhook_that_arrives_before_checkout_has_answered(shop: Shop) -> None:
    sku = new_book(shop, 3)
    webhooks: list[Any] = []

    def pay_now(order_id: str, session_id: str) -> None:
        webhooks.append(shop.complete(session_id, shipping_details=US_ADDRESS))

    with before_session_is_recorded(pay_now):
        status, body = shop.checkout([{"sku": sku, "quantity": 1}], US)
    assert status == 201, body
    [(done, _)] = webhooks
    assert done == 200
    shop.wait_status(body["order_id"], "paid", timeout=60)
    [order] = orders_of(shop, sku)
    assert order["order_id"] == body["order_id"]
    assert order["status"] == "paid"  # the late session update did not undo the payment
    assert counters(shop, sku) == (2, 0, 1)
    assert_invariants(shop, sku)


class Crash(BaseException):
    """The function dies (timeout, out of memory): nothing after this line runs."""


@contextmanager
def crash_after_stripe() -> Iterator[None]:
    crashed = threading.Event()

    def crash(order_id: str, session_id: str) -> None:
        raise Crash(order_id)

    hook = threading.excepthook

    def quiet(args: Any) -> None:  # the local API's request thread dies, as Lambda would
        if args.exc_type is Crash:
            crashed.set()
        else:
            hook(args)

    threading.excepthook = quiet
    try:
        with before_session_is_recorded(crash):
            yield
    finally:
        crashed.wait(timeout=10)  # the thread reports its death after dropping the client
        threading.excepthook = hook


@pytest.mark.parametrize("healer", ["session_expired_event", "sweeper"])
def test_a_crash_between_the_stripe_call_and_the_order_update(shop: Shop, healer: str) -> None:
    sku = new_book(shop, 3)
    with crash_after_stripe():
        try:
            status, _ = shop.checkout([{"sku": sku, "quantity": 2}], US)
        except OSError:  # the connection dropped without an answer
            status = 0
    assert status in (0, 502)
    [order] = orders_of(shop, sku)
    assert order["status"] == "pending_payment" and "stripe_session_id" not in order
    [session] = sessions_of(shop, order["order_id"])  # Stripe has the session
    assert counters(shop, sku) == (1, 2, 0)

    if healer == "session_expired_event":
        done, _ = shop.expire(session["id"])  # Stripe expires it; the webhook heals
        assert done == 200
    else:
        sweeper = _load_sweeper()
        counts = sweeper.sweep(now=datetime.now(UTC) + timedelta(hours=1))
        assert counts.get("released", 0) >= 1, counts
    order = shop.wait_status(order["order_id"], "expired")
    assert order["status"] == "expired"
    assert counters(shop, sku) == (3, 0, 0)
    assert len(orders_of(shop, sku)) == 1
    assert_invariants(shop, sku)
