"""Handler tests' fixtures: API Gateway events from ``tests/events/apigw``, a Lambda
context, each function's module, and the in-memory fakes put behind the providers.

Every test starts from the same state: ``deps`` forgets what it built, the webhook
forgets its idempotent processor, and Powertools idempotency persists to a fresh
in-memory store; so the order of tests (and ``-n 2``) does not matter.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bonestore.api import deps
from bonestore.domain.catalog import seed_catalog
from tests.fakes import (
    MemoryGateway,
    MemoryIdempotencyStore,
    MemoryOrders,
    MemoryProducts,
    MemoryPublisher,
    MemoryRateLimiter,
    RecordingEmailSender,
)

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "tests" / "events" / "apigw"
WEBHOOK_SECRET = "whsec_handler_tests"
SUPPORT_CLAIMS_GROUP = "support"


FUNCTIONS = ("catalog", "eligibility", "checkout", "webhook", "support", "admin")


@cache
def handler_module(name: str) -> ModuleType:
    """``functions/<name>/app.py``, imported once per test process (a warm instance)."""
    from bonestore_infra.lambda_runtime import import_handler_module

    return import_handler_module("app", REPO / "functions" / name / "app.py")


@pytest.fixture(scope="session", autouse=True)
def _cold_starts() -> None:
    """Every function imported once per process (Powertools, pydantic, the seed catalog,
    the compiled ruleset), so no single test pays the cold starts."""
    from bonestore.domain.rules import default_engine

    for name in FUNCTIONS:
        handler_module(name)
    seed_catalog()
    default_engine()


def api_event(
    fixture: str,
    *,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str | None] | None = None,
    body: Any = ...,
    groups: str | None = None,
    claims: bool = True,
) -> dict[str, Any]:
    """The fixture event with what a test changes; ``headers`` values of None remove one.

    ``body`` is JSON-encoded unless it is a str or bytes (sent as is); ``groups``
    (when given) replaces ``cognito:groups``; ``claims=False`` removes the authorizer (no token).
    """
    event: dict[str, Any] = copy.deepcopy(_fixture(fixture))
    context = event["requestContext"]
    context["requestId"] = str(uuid.uuid4())
    if path_params is not None:
        event["pathParameters"] = path_params
        path = event["resource"]
        for key, value in path_params.items():
            path = path.replace("{" + key + "}", value)
        event["path"], context["path"] = path, f"/{context['stage']}{path}"
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    for name, header_value in (headers or {}).items():
        event["headers"].pop(name, None)
        event["multiValueHeaders"].pop(name, None)
        if header_value is not None:
            event["headers"][name] = header_value
            event["multiValueHeaders"][name] = [header_value]
    if body is not ...:
        if isinstance(body, bytes):
            body = body.decode()
        event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    if not claims:
        context.pop("authorizer", None)
    elif groups is not None:
        context["authorizer"]["claims"]["cognito:groups"] = groups
    return event


@cache
def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@dataclass
class FakeLambdaContext:
    """What Lambda passes a Python handler (the attributes Powertools reads)."""

    function_name: str = "HandlerTest"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:HandlerTest"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/HandlerTest"
    log_stream_name: str = "2026/12/01/[$LATEST]handlertest"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Fakes:
    """The fakes behind the providers for one test."""

    products: MemoryProducts
    orders: MemoryOrders
    gateway: MemoryGateway
    publisher: MemoryPublisher
    emails: RecordingEmailSender
    # The idempotency table: Powertools records by key, shared by every layer made.
    idempotency: dict[str, Any] = field(default_factory=dict)


Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


def seeded_products() -> MemoryProducts:
    items = []
    for product in seed_catalog():
        item = {**product.model_dump(mode="json", exclude_none=True)}
        if product.stock is not None:
            item.update(reserved=0, sold=0, received=product.stock)
        items.append(item)
    return MemoryProducts(items)


def _returning(value: Any) -> Callable[[], Any]:
    return lambda: value


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    products = seeded_products()
    stock = {sku: [int(i["stock"]), 0] for sku, i in products.items.items() if "stock" in i}
    made = Fakes(
        products=products,
        orders=MemoryOrders(stock=stock),
        gateway=MemoryGateway(),
        publisher=MemoryPublisher(),
        emails=RecordingEmailSender(),
    )

    def persistence_layer() -> Any:
        return MemoryIdempotencyStore(made.idempotency)

    # Powertools idempotency (checkout's Idempotency-Key, the webhook's event ids).
    monkeypatch.setattr("bonestore.adapters.idempotency.persistence_layer", persistence_layer)
    monkeypatch.setattr(handler_module("webhook"), "_processor", None)
    with ExitStack() as stack:
        for provider, fake in (
            (deps.product_repository, made.products),
            (deps.order_repository, made.orders),
            (deps.stripe_gateway, made.gateway),
            (deps.event_publisher, made.publisher),
            (deps.email_sender, made.emails),
            (deps.checkout_rate_limiter, MemoryRateLimiter()),
            (deps.webhook_secrets, (WEBHOOK_SECRET,)),
            (deps.order_token_key, b"handler-tests-order-token-key-32b"),
        ):
            stack.enter_context(deps.override(provider, _returning(fake)))
        yield made
    deps.reset()


@pytest.fixture
def invoke(fakes: Fakes) -> Invoke:
    """``invoke("catalog", event)``: the function's ``lambda_handler`` with a fresh context."""

    def call(function: str, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = handler_module(function).lambda_handler(
            event, FakeLambdaContext()
        )
        return response

    return call


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def open_order(invoke: Invoke, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An order pending payment, made by the checkout handler (digital-only by default)."""
    cart = body_of(api_event("checkout-post.json"))
    cart["items"] = items or [{"sku": "ORP-EBOOK", "quantity": 1}]
    event = api_event("checkout-post.json", body=cart, headers={"Idempotency-Key": None})
    created = invoke("checkout", event)
    assert created["statusCode"] == 201, created["body"]
    return body_of(created)  # type: ignore[no-any-return]


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """``Stripe-Signature`` as Stripe (and the emulator) computes it: HMAC-SHA256 of ``t.body``."""
    timestamp = int(time.time()) if at is None else at
    signed = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={signed.hexdigest()}"
