"""The Stripe SDK's HTTP client over urllib3 (``bonestore.adapters.stripe_http``): what
``RequestsClient`` did for the SDK, without importing requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import stripe

from bonestore.adapters.stripe_http import Urllib3Client
from tests.helpers import run_in_deployed_layer

pytestmark = pytest.mark.unit


class _Stripe(BaseHTTPRequestHandler):
    """Answers as the test's ``script`` says: a list of (status, headers, body, delay)."""

    script: ClassVar[list[tuple[int, dict[str, str], bytes, float]]] = []
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(
            {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
        )
        status, headers, body, delay = self.script.pop(0) if self.script else (200, {}, b"{}", 0)
        time.sleep(delay)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out first
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Stripe.script, _Stripe.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stripe)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_request_and_its_answer_pass_through_whole(server: str) -> None:
    _Stripe.script = [(402, {"Request-Id": "req_1", "Stripe-Should-Retry": "false"}, b'{"e":1}', 0)]
    client = Urllib3Client(timeout=(1, 2))
    body, status, headers = client.request(
        "post", f"{server}/v1/x", {"Idempotency-Key": "k1", "X-Test": "y"}, "a=1&b=%C3%A9"
    )
    assert (body, status) == (b'{"e":1}', 402)
    # The SDK reads these headers in lower case (its retry decision, request ids).
    assert headers["request-id"] == "req_1" and "stripe-should-retry" in headers
    seen = _Stripe.seen[0]
    assert seen["body"] == b"a=1&b=%C3%A9" and seen["headers"]["Idempotency-Key"] == "k1"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_retryable() -> None:
    client = Urllib3Client(timeout=(1, 1))
    with pytest.raises(stripe.APIConnectionError) as caught:
        client.request("get", f"http://127.0.0.1:{_closed_port()}/v1/x", {})
    assert caught.value.should_retry is True


def test_a_read_timeout_is_retryable(server: str) -> None:
    _Stripe.script = [(200, {}, b"{}", 1.0)]
    client = Urllib3Client(timeout=(1, 0.2))
    with pytest.raises(stripe.APIConnectionError) as caught:
        client.request("post", f"{server}/v1/x", {}, "a=1")
    assert caught.value.should_retry is True


def test_a_tls_failure_is_not_retried(server: str) -> None:
    client = Urllib3Client(timeout=(1, 1))
    with pytest.raises(stripe.APIConnectionError) as caught:  # TLS to a plain HTTP port
        client.request("get", server.replace("http://", "https://") + "/v1/x", {})
    assert caught.value.should_retry is False
    assert "TLS" in str(caught.value)


def test_concurrent_requests_share_the_pool_without_dropping_connections(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The local gateway's threads share one client: up to POOL_SIZE requests at once keep
    their connections (past it urllib3 warns "Connection pool is full, discarding")."""
    _Stripe.script = [(200, {}, b"{}", 0.2) for _ in range(8)]
    client = Urllib3Client(timeout=(1, 5))
    statuses: list[int] = []

    def call() -> None:
        statuses.append(client.request("post", f"{server}/v1/x", {}, "a=1")[1])

    threads = [threading.Thread(target=call) for _ in range(8)]
    with caplog.at_level("WARNING", logger="urllib3"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 8
    assert "Connection pool is full" not in caplog.text


def test_tls_is_verified_against_stripes_ca_bundle() -> None:
    pool = Urllib3Client(timeout=(1, 1))._pool
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert pool.connection_pool_kw["ca_certs"] == stripe.ca_bundle_path


def test_the_sdk_retries_a_500_once_with_the_same_idempotency_key(server: str) -> None:
    _Stripe.script = [
        (500, {}, b'{"error": {"type": "api_error", "message": "boom"}}', 0),
        (200, {}, json.dumps({"id": "cus_1", "object": "customer"}).encode(), 0),
    ]
    sdk = stripe.StripeClient(
        "sk_test_x",
        base_addresses={"api": server},
        max_network_retries=1,
        http_client=Urllib3Client(timeout=(1, 2)),
    )
    customer = sdk.v1.customers.create(params={"email": "a@example.com"})
    assert customer.id == "cus_1"
    keys = [seen["headers"]["Idempotency-Key"] for seen in _Stripe.seen]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_the_deployed_gateway_never_imports_requests(tmp_path: Any) -> None:
    """In the layer as deployed (no requests: shared/requirements.txt), making the SDK's
    client imports neither requests nor anything it needs."""
    script = """
import sys
from bonestore.adapters.stripe_gateway import StripeGateway
StripeGateway("sk_test_x", api_base="http://127.0.0.1:9").client
print(sorted({"requests", "idna", "charset_normalizer"} & set(sys.modules)))
"""
    stdout = run_in_deployed_layer(script, tmp_path)
    assert stdout.strip() == "[]"


def test_the_gateway_sends_its_idempotency_key_and_reads_the_json(server: str) -> None:
    from bonestore.adapters.stripe_gateway import StripeGateway

    _Stripe.script = [(200, {}, b'{"id": "re_1", "object": "refund"}', 0)]
    gateway = StripeGateway("sk_test_x", api_base=server)
    assert gateway.refund("pi_1", order_id="o1") == "re_1"
    seen = _Stripe.seen[0]
    assert seen["path"] == "/v1/refunds"
    assert seen["headers"]["Idempotency-Key"] == "refund-o1"
    assert seen["headers"]["Authorization"] == "Bearer sk_test_x"
    # The SDK's pinned API version, as its services send it: the shapes we parse are its.
    assert seen["headers"]["Stripe-Version"] == stripe.api_version
    assert seen["body"] == b"payment_intent=pi_1&metadata[order_id]=o1"


def test_a_parameter_named_like_a_request_option_is_refused_not_sent(server: str) -> None:
    """``raw_request`` would read it as an option (another key, account or header)."""
    from bonestore.adapters.stripe_gateway import StripeGateway

    gateway = StripeGateway("sk_test_x", api_base=server)
    for name in ("api_key", "stripe_account", "headers", "idempotency_key"):
        with pytest.raises(ValueError, match=name):
            gateway._call("post", "/v1/refunds", {name: "x"})
    assert _Stripe.seen == []


def test_the_deployed_gateway_builds_no_stripe_resource_classes(server: str, tmp_path: Any) -> None:
    """Importing a resource's class (``stripe.checkout._session``: ~18 ms) is what the
    SDK's services would add to checkout's first invocation, for a dict we read."""
    session = {"id": "cs_1", "object": "checkout.session", "status": "expired"}
    _Stripe.script = [(200, {}, json.dumps(session).encode(), 0)]
    script = f"""
import sys
from bonestore.adapters.stripe_gateway import StripeGateway
session = StripeGateway("sk_test_x", api_base={server!r}).expire_checkout_session("cs_1")
print(session.session_id, session.status)
print(sorted(m for m in sys.modules if m in ("stripe.checkout._session", "stripe._refund")))
"""
    stdout = run_in_deployed_layer(script, tmp_path)
    assert stdout.split("\n")[:2] == ["cs_1 expired", "[]"]
    assert _Stripe.seen[0]["path"] == "/v1/checkout/sessions/cs_1/expire"
