"""The service under load, locally: requests/s, p50 and p99 at 1, 8 and 32 requests in
flight for the storefront's three calls, and the DynamoDB capacity a checkout uses.

    python -m bonestore_infra.bench_load [--requests 96] [--levels 1,8,32]

Loopback only, a fixed number of requests per level (bounded in count and time). The
local stack runs every function in this one process over the embedded DynamoDB, so the
figures compare levels and releases on this machine; they are not Lambda's (which runs
one request per environment and scales out). Capacity units come from DynamoDB itself:
every call of the functions' client is sent with ``ReturnConsumedCapacity=TOTAL`` and
the ``ConsumedCapacity`` it answers is summed per checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from bonestore_infra.bench_checkout import US_ADDRESS, Shop, http_json, start_stack

CART = [{"sku": "TRUEOSTEO-120", "quantity": 1}, {"sku": "ORP-EBOOK", "quantity": 1}]
DESTINATION = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
_CAPACITY_OPS = {
    "GetItem",
    "BatchGetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "TransactWriteItems",
    "TransactGetItems",
    "BatchWriteItem",
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def consumed_capacity() -> Iterator[dict[str, float]]:
    """Capacity units the functions' DynamoDB client consumed while the block ran."""
    from bonestore.adapters.dynamo import dynamodb_client

    totals: dict[str, float] = defaultdict(float)
    lock = threading.Lock()

    def ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in _CAPACITY_OPS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def add(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        found = parsed.get("ConsumedCapacity")
        entries = found if isinstance(found, list) else [found] if found else []
        with lock:
            totals["calls"] += 1
            for entry in entries:
                totals["read"] += float(entry.get("ReadCapacityUnits") or 0)
                totals["write"] += float(entry.get("WriteCapacityUnits") or 0)
                totals["total"] += float(entry.get("CapacityUnits") or 0)
                totals["reported"] += 1

    client = dynamodb_client()
    client.meta.events.register("provide-client-params.dynamodb", ask)
    client.meta.events.register("after-call.dynamodb", add)
    try:
        yield totals
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", ask)
        client.meta.events.unregister("after-call.dynamodb", add)


def _level(call: Callable[[int], str | None], requests: int, in_flight: int) -> dict[str, Any]:
    """``call`` answers None when the request did what it should, else what went wrong."""
    latencies: list[float] = []
    failures: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def one(n: int) -> None:
        started = time.perf_counter()
        try:
            problem = call(n)
        except OSError as exc:  # a timeout: the request is counted, and failed
            problem = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            if problem:
                failures[problem] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    return {
        "rps": requests / wall,
        "p50": statistics.median(latencies),
        "p99": _pct(latencies, 0.99),
        "failures": dict(failures),
    }


def run(requests: int = 96, levels: tuple[int, ...] = (1, 8, 32)) -> dict[str, Any]:
    stack = start_stack()
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    # The business metrics' EMF documents go to stdout, as in Lambda: here they would
    # bury the table (one per checkout and per payment).
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    try:
        shop = Shop(stack)
        shop.set_stock("TRUEOSTEO-120", 1_000_000)
        api = shop.api

        def problem(status: int, body: Any, wanted: int) -> str | None:
            if status == wanted:
                return None
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            return f"{status} {code or ''}".strip()

        def eligibility(_: int) -> str | None:
            status, body = http_json(
                "POST",
                f"{api}/eligibility",
                {"destination": DESTINATION, "items": CART},
                timeout=120,
            )
            return problem(status, body, 200)

        def catalog(_: int) -> str | None:
            status, body = http_json("GET", f"{api}/products?country=US", timeout=120)
            return problem(status, body, 200)

        def checkout(n: int) -> str | None:
            status, body = shop.checkout_exchange(
                CART, DESTINATION, email=f"load{n}@example.com", timeout=120
            )[:2]
            if status != 201:
                return problem(status, body, 201)
            done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
            if done != 200 or not result["webhook"]["ok"]:
                return f"completion {done}"
            return None

        calls = {
            "POST /eligibility": eligibility,
            "GET /products?country=US": catalog,
            "POST /checkout + completion": checkout,
        }
        for call in calls.values():  # the first request of each function pays its cold start
            call(0)
        # Capacity first: webhook retries left by the busiest level would be counted too.
        samples = 5
        with consumed_capacity() as created:
            for _ in range(samples):
                status, body, _ = shop.checkout_exchange(CART, DESTINATION, email="cu@example.com")
                assert status == 201, body
        _, body, _ = shop.checkout_exchange(CART, DESTINATION, email="cu@example.com")
        session = body["stripe_session_id"]
        with consumed_capacity() as completed:
            shop.complete(session, shipping_details=US_ADDRESS)
        table: dict[str, dict[int, dict[str, Any]]] = {}
        for name, call in calls.items():
            table[name] = {level: _level(call, requests, level) for level in levels}

        return {
            "requests": requests,
            "table": table,
            "capacity_create": {k: v / samples for k, v in created.items()},
            "capacity_complete": dict(completed),
        }
    finally:
        stack.stop()


def _units(totals: dict[str, float]) -> str:
    if not totals.get("reported"):
        return f"{totals.get('calls', 0):.0f} calls; the embedded DynamoDB reported no capacity"
    split = (
        f" ({totals['read']:.1f} read, {totals['write']:.1f} write)"
        if totals.get("read") or totals.get("write")
        else " (the embedded DynamoDB reports totals only, transactional writes not doubled)"
    )
    return f"{totals.get('total', 0):.1f} units{split} over {totals.get('calls', 0):.0f} calls"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args(argv)
    levels = tuple(int(x) for x in args.levels.split(","))
    result = run(args.requests, levels)
    print(f"  {result['requests']} requests per level, loopback, one process")
    print(f"  {'call':30} {'in flight':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  failed")
    for name, rows in result["table"].items():
        for level, row in rows.items():
            failed = ", ".join(f"{k} x{v}" for k, v in row["failures"].items()) or "0"
            print(
                f"  {name:30} {level:9d} {row['rps']:8.1f} {row['p50']:8.1f} "
                f"{row['p99']:8.1f}  {failed}"
            )
    print(f"  DynamoDB per POST /checkout: {_units(result['capacity_create'])}")
    print(f"  DynamoDB per completion (webhook): {_units(result['capacity_complete'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
