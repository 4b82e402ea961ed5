"""Issue 11's reproducers over HTTP against the local stack: every one a clean 4xx.

Contract v2's body rules (415 / 400 invalid_json / 413) on every route that takes a
body, and the local gateway as strict as API Gateway (bad Content-Length, HTTP/0.9,
TRACE, header case).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe

from bonestore.api.json_body import MAX_BODY_BYTES
from bonestore_infra.local_stack import LocalStack
from tests.helpers import Http, assert_error
from tests.integration.test_support_api import staff_token

pytestmark = pytest.mark.integration

CART = {"destination": {"country": "US"}, "items": [{"sku": "ORP-EBOOK", "quantity": 1}]}
PRODUCT = {
    "name": "Edge test product",
    "description": "A product for the edge tests.",
    "kind": "digital",
    "category": "program",
    "price": {"amount": 1000, "currency": "USD"},
}


@pytest.fixture(scope="module")
def ops() -> str:
    return staff_token("ops")


def body_routes(ops: str) -> list[tuple[str, str, dict[str, Any], str | None]]:
    return [
        ("POST", "/eligibility", CART, None),
        ("POST", "/checkout", {**CART, "success_url": "https://x.example/ok"}, None),
        ("POST", "/support/eligibility", CART, ops),
        ("PUT", "/admin/products/EDGE-TEST-1", PRODUCT, ops),
    ]


ROUTE_IDS = ["eligibility", "checkout", "support-eligibility", "admin-products"]


@pytest.mark.parametrize("index", range(4), ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/jsonx",
        "json",
    ],
)
def test_a_body_that_is_not_json_by_media_type_is_415(
    api: Http, ops: str, index: int, content_type: str
) -> None:
    method, path, body, token = body_routes(ops)[index]
    response = api.request(method, path, body, headers={"Content-Type": content_type}, token=token)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "Application/Json;Charset=UTF-8",
        "application/vnd.api+json",
        "application/merge-patch+json",
    ],
)
def test_json_media_types_are_accepted(api: Http, content_type: str) -> None:
    response = api.request("POST", "/eligibility", CART, headers={"Content-Type": content_type})
    assert response.status == 200, response.body[:300]
    assert response.json()["eligible"] is True


@pytest.mark.parametrize("index", range(4), ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "raw",
    [
        b'{"items": "\xff\xfe"}',  # not UTF-8
        b"\xc3\x28",
        b'{"items": [',  # not JSON
        b"{'items': []}",
        b'{"items": NaN}',
        b"[" * 30_000 + b"]" * 30_000,  # nested 30,000 deep, under the size limit
        b'{"a":' * 40 + b"1" + b"}" * 40,  # deeper than the API needs
        b"[]",  # JSON, but not the object every route takes
        b'"text"',
        b"",  # declared JSON, but empty: the empty text is no JSON document
    ],
    ids=[
        "bad-utf8",
        "bad-utf8-2",
        "truncated",
        "single-quotes",
        "nan",
        "deep-30000",
        "deep-40",
        "array",
        "string",
        "empty",
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_invalid_json(
    api: Http, ops: str, index: int, raw: bytes
) -> None:
    method, path, _, token = body_routes(ops)[index]
    response = api.request(method, path, raw=raw, token=token)
    assert_error(response, 400, "invalid_json")


def test_a_body_nested_100000_deep_is_refused_by_its_size(api: Http) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    assert_error(api.request("POST", "/eligibility", raw=raw), 413, "payload_too_large")


@pytest.mark.parametrize("index", range(4), ids=ROUTE_IDS)
def test_a_body_over_the_documented_limit_is_413(api: Http, ops: str, index: int) -> None:
    method, path, body, token = body_routes(ops)[index]
    raw = json.dumps({**body, "padding": "x" * MAX_BODY_BYTES}).encode()
    response = api.request(method, path, raw=raw, token=token)
    assert_error(response, 413, "payload_too_large")


def test_staff_routes_refuse_the_caller_before_reading_the_body(api: Http) -> None:
    response = api.request(
        "POST", "/support/eligibility", raw=b"\xff", headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 401, "unauthorized")
    customer = staff_token("customer")
    response = api.request("PUT", "/admin/products/X-1", raw=b"[[[", token=customer)
    assert_error(response, 403, "forbidden")


# -- the webhook: signed bodies that used to be 500s ------------------------------------


def signed_post(stack: LocalStack, payload: bytes) -> tuple[int, Any]:
    from bonestore_infra.bench_checkout import http_json

    signature = stripe.WebhookSignature.generate_signature_header(
        payload.decode("utf-8", "replace"), stack.config.webhook_secret
    )
    return http_json(
        "POST",
        f"{stack.api_url}/webhooks/stripe",
        raw=payload,
        headers={"Stripe-Signature": signature},
    )


def test_a_signed_webhook_nested_50000_deep_is_400(local_stack: LocalStack) -> None:
    payload = (
        b'{"id": "evt_deep", "type": "checkout.session.completed", "data": '
        + (b"[" * 50_000 + b"]" * 50_000)
        + b"}"
    )
    status, body = signed_post(local_stack, payload)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "obj",
    [
        {"metadata": "order_1", "client_reference_id": "ord_x"},
        {"customer_details": "someone", "metadata": {"order_id": "ord_x"}},
        {"metadata": {"order_id": "ord_x"}, "shipping_details": "x", "amount_total": "lots"},
    ],
)
def test_a_signed_webhook_with_wrong_typed_fields_is_not_a_5xx(
    local_stack: LocalStack, obj: dict[str, Any]
) -> None:
    event = {
        "id": f"evt_types_{abs(hash(json.dumps(obj)))}",
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_x", "object": "checkout.session", **obj}},
    }
    status, body = signed_post(local_stack, json.dumps(event).encode())
    assert status < 500, body


def test_a_signed_refund_with_wrong_typed_refunds_is_not_a_5xx(local_stack: LocalStack) -> None:
    event = {
        "id": "evt_refunds_string",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_x", "object": "charge", "refunds": "all of them"}},
    }
    status, body = signed_post(local_stack, json.dumps(event).encode())
    assert status < 500, body


# -- the local gateway as strict as API Gateway -----------------------------------------


def raw_exchange(api: Http, request: bytes, timeout: float = 5) -> tuple[int, dict[str, Any]]:
    """Send bytes as they are; the status and the JSON error body of the answer."""
    parts = urlsplit(api.base_url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"no complete answer within {timeout}s: {data[:200]!r}")
            if not chunk:
                break
            data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            if _ and b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    break
    assert time.monotonic() - started < timeout
    status_line, _, rest = data.partition(b"\r\n")
    head, _, body = rest.partition(b"\r\n\r\n")
    assert b"Traceback" not in data and b"<html" not in data.lower(), data[:300]
    assert b"content-type: application/json" in head.lower(), head
    return int(status_line.split()[1]), json.loads(body)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"0x10", b" ", b"99999999999999999999"])
def test_a_content_length_that_is_not_a_number_is_400(api: Http, length: bytes) -> None:
    request = (
        b"POST /eligibility HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\n\r\n{}"
    )
    status, body = raw_exchange(api, request)
    assert status == 400
    assert body["error"]["code"] == "invalid_content_length"


@pytest.mark.parametrize(
    "line",
    [b"GET /products\r\n", b"GET /products HTTP/0.9\r\n", b"GET\r\n", b"NOT HTTP AT ALL\r\n"],
)
def test_a_request_that_is_not_http_1_is_400_at_once(api: Http, line: bytes) -> None:
    status, body = raw_exchange(api, line)
    assert status == 400
    assert body["error"]["code"] == "bad_request"


@pytest.mark.parametrize("method", [b"TRACE", b"CONNECT", b"PROPFIND", b"get"])
def test_a_method_nobody_serves_is_405_in_the_error_body(api: Http, method: bytes) -> None:
    status, body = raw_exchange(api, method + b" /products HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405
    assert body["error"]["code"] == "method_not_allowed"


def test_a_body_that_never_arrives_is_cut_off(api: Http) -> None:
    from bonestore_infra import local_api

    request = (
        b"POST /eligibility HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    status, body = raw_exchange(api, request, timeout=local_api.READ_TIMEOUT_SECONDS + 5)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"


def test_a_body_declared_too_large_that_never_arrives_is_still_answered_413(api: Http) -> None:
    """Over the limit by its Content-Length, and never sent: the 413 once the read gives
    up (the connection used to close with no answer at all)."""
    from bonestore_infra import local_api

    request = (
        b"POST /eligibility HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 99999999999\r\n\r\n{}"
    )
    status, body = raw_exchange(api, request, timeout=local_api.READ_TIMEOUT_SECONDS + 5)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("name", [b"AUTHORIZATION", b"authorization", b"aUtHoRiZaTiOn"])
def test_header_names_are_case_insensitive(api: Http, name: str) -> None:
    # Sent on a raw socket: urllib would re-capitalize the name.
    token = staff_token("ops").encode()
    request = b"GET /admin/rules HTTP/1.1\r\nHost: x\r\n" + name + b": Bearer " + token
    status, body = raw_exchange(api, request + b"\r\nConnection: close\r\n\r\n")
    assert status == 200, body
    assert body["version"]


# -- the pages' security headers ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/console", "/static/storefront.js", "/static/console.js", "/static/storefront.css"],
)
def test_pages_and_scripts_carry_the_security_headers(
    api: Http, local_stack: Any, path: str
) -> None:
    from bonestore_infra.local_api import security_headers

    response = api.get(path)
    assert response.status == 200
    headers = {k.lower(): v for k, v in response.headers.items()}
    # AWS's headers; connect-src also names the embedded AWS, where the console signs in.
    for name, value in security_headers((local_stack.user_pool.endpoint_url,)):
        assert headers[name.lower()] == value
