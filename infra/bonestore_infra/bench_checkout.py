"""Checkout bench over the local stack: DynamoDB round trips before the Stripe call, and
p50/p95 latency of POST /checkout and of the webhook that settles it.

    python -m bonestore_infra.bench_checkout [--runs 40]

Round trips are counted with a botocore hook on the client the checkout function
uses (``before-send.dynamodb``: one per HTTP request, retries included). ``Shop``
is also the integration tests' driver for the stack.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bonestore_infra.http_json import request
from bonestore_infra.local_stack import LocalStack, StackConfig

US_ADDRESS = {
    "name": "Jane Doe",
    "address": {
        "line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    },
}


# A complete address per country, for a checkout given only a destination (v2 needs the
# whole address; completing with US_ADDRESS matches the US one exactly).
ADDRESS_DEFAULTS: dict[str, dict[str, str]] = {
    "US": {"city": "Springfield", "subdivision": "IL", "postal_code": "62701"},
    "CA": {"city": "Ottawa", "subdivision": "ON", "postal_code": "K1A 0B1"},
    "GB": {"city": "London", "postal_code": "SW1A 1AA"},
    "AU": {"city": "Sydney", "subdivision": "NSW", "postal_code": "2000"},
    "DE": {"city": "Berlin", "postal_code": "10115"},
}


def shipping_address(destination: dict[str, Any]) -> dict[str, Any]:
    """The v2 ``shipping_address`` for a destination: its fields over a complete address."""
    country = str(destination["country"]).upper()
    return {
        "name": "Jane Doe",
        "line1": "1 Main St",
        **ADDRESS_DEFAULTS.get(country, {"city": "Capital"}),
        **destination,
    }


def http_json(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One request: the status and the JSON body (or text; None when empty)."""
    answer = request(method, url, body, raw=raw, headers=headers, timeout=timeout)
    return answer.status, answer.json_or_text()


# The checkout limits opened wide: a benchmark (or the test suite) is one client and a
# few emails opening hundreds of checkouts a minute, which the customer limits exist to
# stop (docs/deploy.md#reservation-limits). The limits' own tests put the defaults back.
OPEN_LIMITS = {
    "CheckoutMaxUnitsPerSku": "999",
    "CheckoutMaxOpenReservations": "100",
    "CheckoutRatePerEmail": "1000000",
    "CheckoutRatePerAddress": "1000000",
}


def start_stack(**overrides: Any) -> LocalStack:
    overrides.setdefault("parameters", dict(OPEN_LIMITS))
    config = StackConfig(
        api_port=0,
        stripe_port=0,
        dynamodb_port=0,
        webhook_retry_delays=(0.2, 0.5),
        **overrides,
    )
    return LocalStack(config).start()


@contextmanager
def running_stack(**overrides: Any) -> Iterator[LocalStack]:
    """A stack for the duration of the block (stop() restores the process environment)."""
    stack = start_stack(**overrides)
    try:
        yield stack
    finally:
        stack.stop()


class Shop:
    """A client of the running stack: checkouts, the emulator's _dev API, the tables."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        assert stack.aws is not None
        self.dynamodb = stack.aws.client("dynamodb")
        self.orders_table = stack.resolver.ref("OrdersTable")
        self.products_table = stack.resolver.ref("ProductsTable")

    @property
    def api(self) -> str:
        return self.stack.api_url

    @property
    def stripe(self) -> str:
        url = self.stack.stripe_url
        assert url is not None
        return url

    def checkout(
        self,
        items: list[dict[str, Any]],
        destination: dict[str, Any] | None = None,
        **extra: Any,
    ) -> tuple[int, Any]:
        status, body, _ = self.checkout_exchange(items, destination, **extra)
        return status, body

    def checkout_exchange(
        self,
        items: list[dict[str, Any]],
        destination: dict[str, Any] | None = None,
        *,
        timeout: float = 30,
        **extra: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        """POST /checkout: the status, the body and the response headers."""
        body: dict[str, Any] = {
            "items": items,
            "success_url": "https://shop.example.com/thanks",
            "cancel_url": "https://shop.example.com/cart",
            **extra,
        }
        if destination is not None and "shipping_address" not in body:
            body["shipping_address"] = shipping_address(destination)
        answer = request("POST", f"{self.api}/checkout", body, timeout=timeout)
        return answer.status, answer.json_or_text(), answer.headers

    def customer_order(self, order_id: str, token: str | None) -> tuple[int, Any]:
        """``GET /orders/{order_id}`` as the customer's page asks it."""
        headers = {"X-Order-Token": token} if token is not None else {}
        return http_json("GET", f"{self.api}/orders/{order_id}", headers=headers)

    def complete(self, session_id: str, **payment: Any) -> tuple[int, Any]:
        return http_json(
            "POST", f"{self.stripe}/_dev/checkout/sessions/{session_id}/complete", payment
        )

    def expire(self, session_id: str) -> tuple[int, Any]:
        return http_json("POST", f"{self.stripe}/_dev/checkout/sessions/{session_id}/expire", {})

    def settle_async(self, session_id: str, succeed: bool) -> tuple[int, Any]:
        return http_json(
            "POST",
            f"{self.stripe}/_dev/checkout/sessions/{session_id}/async_payment",
            {"succeed": succeed},
        )

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        query = f"?type={event_type}" if event_type else ""
        _, body = http_json("GET", f"{self.stripe}/_dev/events{query}")
        return list(body["data"])

    def resend(self, event_id: str) -> tuple[int, Any]:
        return http_json("POST", f"{self.stripe}/_dev/events/{event_id}/resend", {})

    def fail_stripe(self, count: int, status: int | str = 500, delay: float = 0) -> None:
        http_json(
            "POST",
            f"{self.stripe}/_dev/failures",
            {"count": count, "status": status, "delay": delay},
        )

    def order(self, order_id: str) -> dict[str, Any]:
        """The order's stored item, as plain JSON (what the table holds, not the model)."""
        from bonestore.adapters.dynamo import from_item

        item = self.dynamodb.get_item(
            TableName=self.orders_table, Key={"order_id": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        assert item is not None, order_id
        return from_item(item)

    def product(self, sku: str) -> dict[str, Any]:
        from bonestore.adapters.dynamo import from_item

        item = self.dynamodb.get_item(
            TableName=self.products_table, Key={"sku": {"S": sku}}, ConsistentRead=True
        )["Item"]
        return from_item(item)

    def clone(self, sku: str, stock: int | None = None, *, suffix: str | None = None) -> str:
        """A new product like ``sku`` (same kind, category, attributes) with its own stock,
        so a test's stock figures are its own. Returns the new SKU."""
        from bonestore.adapters.products import ProductRepository
        from bonestore.domain.catalog import Product, product_of

        base = product_of(self.product(sku))
        new_sku = f"{sku}-{suffix or uuid.uuid4().hex[:8].upper()}"[:64]
        data = base.model_dump()
        data.update(sku=new_sku, stock=stock if base.kind == "physical" else None)
        ProductRepository(self.dynamodb, self.products_table).put(Product.model_validate(data))
        return new_sku

    def set_stock(self, sku: str, stock: int) -> None:
        self.dynamodb.update_item(
            TableName=self.products_table,
            Key={"sku": {"S": sku}},
            UpdateExpression="SET stock = :s, reserved = :z",
            ExpressionAttributeValues={":s": {"N": str(stock)}, ":z": {"N": "0"}},
        )

    def wait_status(self, order_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(order_id)
            if order["status"] == status or time.monotonic() > deadline:
                return order
            time.sleep(0.05)


@contextmanager
def count_dynamodb_before_stripe() -> Iterator[list[list[str]]]:
    """Per checkout: the DynamoDB operations sent before the Stripe session was created."""
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.adapters.stripe_gateway import StripeGateway

    calls: list[list[str]] = [[]]
    lock = threading.Lock()

    def on_send(request: Any, **_: Any) -> None:
        target = str(request.headers.get("X-Amz-Target", b"") or "")
        name = target.rsplit(".", 1)[-1].strip("'") or "?"
        with lock:
            calls[-1].append(name)

    original = StripeGateway.create_checkout_session

    def marked(self: StripeGateway, params: Any, *, idempotency_key: str) -> Any:
        with lock:
            calls[-1].append("STRIPE")
        return original(self, params, idempotency_key=idempotency_key)

    client = dynamodb_client()
    client.meta.events.register("before-send.dynamodb", on_send)
    StripeGateway.create_checkout_session = marked  # type: ignore[method-assign,assignment]
    try:
        yield calls
    finally:
        StripeGateway.create_checkout_session = original  # type: ignore[method-assign]
        client.meta.events.unregister("before-send.dynamodb", on_send)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(runs: int = 40) -> dict[str, Any]:
    stack = start_stack()
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # read at each function's cold start
    try:
        shop = Shop(stack)
        shop.set_stock("TRUEOSTEO-120", 100_000)
        cart = [{"sku": "TRUEOSTEO-120", "quantity": 1}, {"sku": "ORP-EBOOK", "quantity": 1}]
        destination = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
        # Warm up: the first request of each function pays its cold start.
        status, body = shop.checkout(cart, destination)
        assert status == 201, body
        shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
        round_trips: list[int] = []
        checkout_ms: list[float] = []
        webhook_ms: list[float] = []
        with count_dynamodb_before_stripe() as calls:
            for _ in range(runs):
                calls.append([])
                started = time.perf_counter()
                status, body = shop.checkout(cart, destination)
                checkout_ms.append((time.perf_counter() - started) * 1000)
                assert status == 201, body
                ops = calls[-1]
                round_trips.append(ops.index("STRIPE") if "STRIPE" in ops else len(ops))
                calls.append([])
                started = time.perf_counter()
                done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
                assert done == 200 and result["webhook"]["ok"], result
                webhook_ms.append(float(result["webhook"]["duration_ms"]))
        sample = calls[1]
        return {
            "runs": runs,
            "dynamodb_round_trips_before_stripe": max(round_trips),
            "operations_before_stripe": sample[: sample.index("STRIPE")]
            if "STRIPE" in sample
            else sample,
            "checkout_p50_ms": statistics.median(checkout_ms),
            "checkout_p95_ms": _pct(checkout_ms, 0.95),
            "webhook_p50_ms": statistics.median(webhook_ms),
            "webhook_p95_ms": _pct(webhook_ms, 0.95),
        }
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    result = run(args.runs)
    ops = result["operations_before_stripe"]
    counted = ", ".join(
        name if ops.count(name) == 1 else f"{name} x{ops.count(name)}"
        for name in dict.fromkeys(ops)
    )
    print(
        f"  DynamoDB round trips per checkout before the Stripe call: "
        f"{result['dynamodb_round_trips_before_stripe']} ({counted}; target: the product read "
        "and the reservation, plus one UpdateItem per checkouts-per-minute counter, "
        "docs/deploy.md#reservation-limits)"
    )
    print(
        f"  POST /checkout over the local stack: p50 {result['checkout_p50_ms']:.1f} ms, "
        f"p95 {result['checkout_p95_ms']:.1f} ms ({result['runs']} runs, warm)"
    )
    print(
        f"  checkout.session.completed webhook: p50 {result['webhook_p50_ms']:.0f} ms, "
        f"p95 {result['webhook_p95_ms']:.0f} ms (as the emulator timed the delivery)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
