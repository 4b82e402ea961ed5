"""The HTTP side of the emulator: Stripe's REST API, the hosted page and the ``_dev`` API."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

import stripe

from . import errors, page
from .checkout import parse_session
from .errors import StripeError
from .forms import parse_form
from .objects import Obj, new_id
from .params import Params
from .store import IdempotencyRecord, PaymentInput, Store
from .webhooks import Dispatcher

log = logging.getLogger(__name__)

DEFAULT_PORT = 12111
DEFAULT_WEBHOOK_SECRET = "whsec_bonestore_local_emulator_secret"  # noqa: S105 (test-only)  # noqa: S105 (test-only)
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1, 2, 4, 8, 16)
DEFAULT_TIMEOUT_HOLD_SECONDS = 90.0
MAX_BODY_BYTES = 1 << 20
API_KEY_PREFIXES = ("sk_test_", "rk_test_")

Failure = int | Literal["timeout", "late"]
Handler = Callable[["StripeEmulator", "re.Match[str]", Params, Obj], "tuple[Obj, list[str]]"]


class _Server(ThreadingHTTPServer):
    # Stripe takes bursts of requests; socketserver's default backlog of 5 resets them.
    request_queue_size = 128
    daemon_threads = True
    emulator: StripeEmulator


class StripeEmulator:
    """A local Stripe: ``start()`` it, point ``StripeClient`` at ``url``, ``stop()`` it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.host = host
        self.port = port
        self.store = Store(base_url=lambda: self.url, api_version=str(stripe.api_version))
        self.dispatcher = Dispatcher(
            url=webhook_url,
            secret=webhook_secret,
            retry_delays=retry_delays,
            payload=self.store.event_payload,
            record=self.store.record_attempt,
        )
        self.store.webhooks_enabled = webhook_url is not None
        self._failures: deque[tuple[Failure, float]] = deque()
        self._failures_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str | None:
        return self.dispatcher.url

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self.dispatcher.url = value
        self.store.webhooks_enabled = value is not None

    def start(self) -> StripeEmulator:
        try:
            server = _Server((self.host, self.port), _RequestHandler)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"Stripe emulator cannot listen on {self.host}:{self.port}: {exc.strerror}. "
                "Is another emulator (or `bonestore serve`) already running? "
                "Stop it or choose another port (port=0 picks a free one).",
            ) from exc
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._stopping.clear()
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="stripe-emulator",
                daemon=True,
            ),
            threading.Thread(target=self._sweep, name="stripe-emulator-expiry", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("Stripe emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.dispatcher.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(5)
        self._threads = []

    def __enter__(self) -> StripeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sweep(self) -> None:
        while not self._stopping.wait(0.5):
            for event_id in self.store.expire_due():
                self.dispatcher.deliver(event_id, wait=False)

    # -- test controls -----------------------------------------------------

    def fail_next(
        self, n: int, status: Failure = 500, delay: float = DEFAULT_TIMEOUT_HOLD_SECONDS
    ) -> None:
        """Make the next ``n`` API (``/v1``) requests fail: with Stripe's ``api_error`` body
        and this 5xx status, or, with ``status="timeout"``, by holding the connection for
        ``delay`` seconds and closing it without an answer. ``status="late"`` does the
        request (a session is created) and answers only after ``delay`` seconds: a
        client that gave up before then never saw what it made."""
        if status not in ("timeout", "late") and not (
            isinstance(status, int) and 500 <= status <= 599
        ):
            raise ValueError("status must be a 5xx status code, 'timeout' or 'late'")
        with self._failures_lock:
            self._failures.extend([(status, delay)] * n)

    def _take_failure(self) -> tuple[Failure, float] | None:
        with self._failures_lock:
            return self._failures.popleft() if self._failures else None

    def advance_clock(self, seconds: float) -> int:
        """Move the emulator's clock forward (expiring sessions whose time has come)."""
        with self.store.lock:
            self.store.clock_offset += seconds
            return self.store.now()

    def events(self, event_type: str | None = None) -> list[Obj]:
        """Recorded events, newest first: ``[{"event": {...}, "attempts": [...]}]``."""
        return self.store.event_records(event_type)

    def deliver(self, event_ids: list[str], *, wait: bool) -> dict[str, Any] | None:
        """Deliver events; with ``wait``, return the first one's first attempt."""
        first: dict[str, Any] | None = None
        for index, event_id in enumerate(event_ids):
            outcome = self.dispatcher.deliver(event_id, wait=wait)
            if index == 0:
                first = outcome
        return first

    def is_stopping(self) -> bool:
        return self._stopping.is_set()


# -- the API -----------------------------------------------------------------


def _retrieve(kind: str, param: str = "id") -> Handler:
    def handler(emu: StripeEmulator, match: re.Match[str], p: Params, req: Obj) -> Any:
        p.reject_unknown({"expand"})
        obj = emu.store.get(kind, match["id"], param)
        return emu.store.render(obj, p.expand()), []

    return handler


def _create_session(emu: StripeEmulator, match: re.Match[str], p: Params, req: Obj) -> Any:
    with emu.store.lock:
        data = parse_session(p, emu.store.now(), emu.store.lookup)
        session = emu.store.create_session(data)
    return emu.store.render(session, data.expand), []


def _session_line_items(emu: StripeEmulator, match: re.Match[str], p: Params, req: Obj) -> Any:
    p.reject_unknown({"expand", "limit", "starting_after", "ending_before"})
    emu.store.get("checkout.session", match["id"], "session")
    return emu.store.render(emu.store.line_items_list(match["id"]), p.expand()), []


def _expire_session(emu: StripeEmulator, match: re.Match[str], p: Params, req: Obj) -> Any:
    p.reject_unknown({"expand"})
    session, events = emu.store.expire_session(match["id"], req)
    return emu.store.render(session, p.expand()), events


def _list(kind: str, filters: tuple[str, ...]) -> Handler:
    def handler(emu: StripeEmulator, match: re.Match[str], p: Params, req: Obj) -> Any:
        p.reject_unknown({"expand", "limit", "starting_after", "ending_before", *filters})
        limit = p.integer("limit", minimum=1) or 10
        wanted = {key: p.text(key) for key in filters if p.has(key)}
        with emu.store.lock:
            found = [
                obj
                for obj in emu.store.all_objects(kind)
                if all(obj.get(key) == value for key, value in wanted.items())
            ]
            data = [emu.store.render(obj, []) for obj in found[:limit]]
        result = {
            "object": "list",
            "data": data,
            "has_more": len(found) > limit,
            "url": f"/v1/{match['collection']}",
        }
        return emu.store.render(result, p.expand()), []

    return handler


def _create_refund(emu: StripeEmulator, match: re.Match[str], p: Params, req: Obj) -> Any:
    p.reject_unknown(
        [
            "amount",
            "charge",
            "currency",
            "customer",
            "expand",
            "instructions_email",
            "metadata",
            "origin",
            "payment_intent",
            "reason",
            "refund_application_fee",
            "reverse_transfer",
        ]
    )
    refund, events = emu.store.create_refund(
        charge_id=p.text("charge"),
        intent_id=p.text("payment_intent"),
        amount=p.integer("amount", minimum=1),
        reason=p.enum("reason", ("duplicate", "fraudulent", "requested_by_customer")),
        metadata=p.metadata(),
        request=req,
    )
    return emu.store.render(refund, p.expand()), events


_ID = r"(?P<id>[A-Za-z0-9_]+)"
API_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"/v1/checkout/sessions"), _create_session),
    (
        "GET",
        re.compile(r"/v1/(?P<collection>checkout/sessions)"),
        _list("checkout.session", ("payment_intent", "status", "client_reference_id")),
    ),
    ("GET", re.compile(rf"/v1/checkout/sessions/{_ID}"), _retrieve("checkout.session", "session")),
    ("GET", re.compile(rf"/v1/checkout/sessions/{_ID}/line_items"), _session_line_items),
    ("POST", re.compile(rf"/v1/checkout/sessions/{_ID}/expire"), _expire_session),
    ("GET", re.compile(rf"/v1/payment_intents/{_ID}"), _retrieve("payment_intent", "intent")),
    ("GET", re.compile(rf"/v1/charges/{_ID}"), _retrieve("charge", "charge")),
    ("POST", re.compile(r"/v1/refunds"), _create_refund),
    ("GET", re.compile(rf"/v1/refunds/{_ID}"), _retrieve("refund", "refund")),
    ("GET", re.compile(r"/v1/(?P<collection>events)"), _list("event", ("type",))),
    ("GET", re.compile(rf"/v1/events/{_ID}"), _retrieve("event")),
    ("GET", re.compile(rf"/v1/shipping_rates/{_ID}"), _retrieve("shipping_rate")),
    ("GET", re.compile(rf"/v1/prices/{_ID}"), _retrieve("price", "price")),
    ("GET", re.compile(rf"/v1/products/{_ID}"), _retrieve("product")),
]


def _route(method: str, path: str) -> tuple[Handler, re.Match[str]]:
    for route_method, pattern, handler in API_ROUTES:
        match = pattern.fullmatch(path)
        if match is not None and route_method == method:
            return handler, match
    raise StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def _check_auth(header: str | None) -> None:
    if not header:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.",
        )
    scheme, _, credentials = header.partition(" ")
    key = credentials.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key).decode().partition(":")[0]
        except ValueError:
            key = ""
    elif scheme.lower() != "bearer":
        key = ""
    if not key.startswith(API_KEY_PREFIXES) or len(key) <= len("sk_test_"):
        shown = f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else key
        raise StripeError(
            401,
            f"Invalid API Key provided: {shown}. The emulator accepts test-mode secret "
            "keys (sk_test_... or rk_test_...).",
            code="api_key_invalid" if key else None,
        )


# -- the _dev API -------------------------------------------------------------


def _json_object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.invalid(name, f"{name} must be a JSON object")
    return value


def payment_from_json(body: dict[str, Any]) -> PaymentInput:
    known = {"shipping_details", "customer_details", "shipping_rate", "async", "card_number"}
    for key in body:
        if key not in known:
            raise errors.unknown_param(key)
    customer = _json_object(body.get("customer_details"), "customer_details") or {}
    for key in customer:
        if key not in {"email", "name", "address", "phone"}:
            raise errors.unknown_param(f"customer_details[{key}]")
    for key in ("email", "name"):
        if customer.get(key) is not None and not isinstance(customer[key], str):
            raise errors.invalid(f"customer_details[{key}]", f"{key} must be a string")
    rate = body.get("shipping_rate")
    if rate is not None and not isinstance(rate, str):
        raise errors.invalid("shipping_rate", "shipping_rate must be a shipping rate id")
    asynchronous = body.get("async", False)
    if not isinstance(asynchronous, bool):
        raise errors.invalid("async", "async must be true or false")
    card = body.get("card_number", PaymentInput.card_number)
    if not isinstance(card, str):
        raise errors.invalid("card_number", "card_number must be a string")
    return PaymentInput(
        email=customer.get("email"),
        name=customer.get("name"),
        billing_address=_json_object(customer.get("address"), "customer_details[address]"),
        shipping=_json_object(body.get("shipping_details"), "shipping_details"),
        shipping_rate=rate,
        card_number=card.replace(" ", ""),
        asynchronous=asynchronous,
    )


_DEV_SESSION = re.compile(r"/_dev/checkout/sessions/(?P<id>[A-Za-z0-9_]+)/(?P<action>[a-z_]+)")
_DEV_RESEND = re.compile(r"/_dev/events/(?P<id>[A-Za-z0-9_]+)/resend")


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "stripe-emulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    @property
    def emu(self) -> StripeEmulator:
        return self.server.emulator

    def _handle(self, method: str) -> None:
        request_id = new_id("req_", 14)
        headers = {"Request-Id": request_id}
        try:
            parts = urlsplit(self.path)
            body = self._body()
            if parts.path.startswith("/v1/"):
                self._api(method, parts.path, parts.query, body, headers)
            elif parts.path.startswith("/_dev/"):
                self._dev(method, parts.path, parts.query, body, headers)
            elif parts.path.startswith("/c/pay/"):
                self._page(method, parts.path.removeprefix("/c/pay/"), body, headers)
            else:
                raise StripeError(404, f"Unrecognized request URL ({method}: {parts.path}).")
        except StripeError as exc:
            self._json(exc.status, exc.body(), headers)
        except Exception:
            log.exception("Stripe emulator: unhandled error on %s %s", method, self.path)
            error = StripeError(500, "The emulator hit an internal error.", type="api_error")
            self._json(500, error.body(), headers)

    def _body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise errors.invalid(None, "Invalid Content-Length header.") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise StripeError(413, f"Request body must be at most {MAX_BODY_BYTES} bytes.")
        return self.rfile.read(length)

    # -- /v1 --

    def _api(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> None:
        failure = self.emu._take_failure()
        if failure is not None:
            status, delay = failure
            if status == "timeout":
                self.emu._stopping.wait(delay)
                self.close_connection = True
                return  # no answer at all: the client sees a dropped connection
            if status == "late":
                self._late_by = delay  # _send holds the answer
            else:
                raise errors.api_error(status)
        _check_auth(self.headers.get("Authorization"))
        headers["Stripe-Version"] = self.headers.get("Stripe-Version") or str(stripe.api_version)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise errors.invalid(None, "The request body is not valid UTF-8.") from None
        raw = parse_form(query) if method == "GET" else parse_form(text) | parse_form(query)
        params = Params(raw)
        handler, match = _route(method, path)
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        request = {"id": headers["Request-Id"], "idempotency_key": key}
        if not key:
            result, events = handler(self.emu, match, params, request)
            self._json(200, result, headers)
            self.emu.deliver(events, wait=False)
            return
        headers["Idempotency-Key"] = key
        fingerprint = (method, path, json.dumps(raw, sort_keys=True))
        store = self.emu.store
        with store.lock:
            record = store.idempotency.get(key)
            if record is None:
                store.idempotency[key] = IdempotencyRecord(fingerprint)
        if record is not None:
            self._replay(key, record, fingerprint, headers)
            return
        try:
            result, events = handler(self.emu, match, params, request)
        except BaseException:
            with store.lock:  # Stripe saves no result for a request that failed validation
                store.idempotency.pop(key, None)
            raise
        encoded = json.dumps(result, indent=2).encode()
        with store.lock:
            store.idempotency[key] = IdempotencyRecord(
                fingerprint, 200, encoded, headers["Request-Id"]
            )
        self._send(200, encoded, "application/json", headers)
        self.emu.deliver(events, wait=False)

    def _replay(
        self,
        key: str,
        record: IdempotencyRecord,
        fingerprint: tuple[str, str, str],
        headers: dict[str, str],
    ) -> None:
        if record.fingerprint != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{key}' if you "
                "meant to execute a different request.",
                type="idempotency_error",
            )
        if record.status is None:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Stripe token "
                "(probably the same idempotency key). Try again later.",
                code="idempotency_key_in_use",
            )
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = record.request_id
        self._send(record.status, record.body, "application/json", headers)

    # -- /_dev --

    def _dev(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> None:
        emu = self.emu
        data: dict[str, Any] = {}
        if method == "POST" and body.strip():
            try:
                loaded = json.loads(body)
            except ValueError:
                raise errors.invalid(None, "The request body must be JSON.") from None
            if not isinstance(loaded, dict):
                raise errors.invalid(None, "The request body must be a JSON object.")
            data = loaded
        session_match = _DEV_SESSION.fullmatch(path)
        resend_match = _DEV_RESEND.fullmatch(path)
        if method == "GET" and path == "/_dev/health":
            self._json(200, {"ok": True, "url": emu.url}, headers)
        elif method == "GET" and path == "/_dev/events":
            event_type = Params(parse_form(query)).text("type")
            self._json(200, {"data": emu.events(event_type)}, headers)
        elif method == "POST" and resend_match is not None:
            event_id = resend_match["id"]
            if not emu.store.has_event(event_id):
                raise errors.not_found("event", event_id)
            outcome = emu.deliver([event_id], wait=True)
            self._json(200, {"event": event_id, "webhook": outcome}, headers)
        elif method == "POST" and path == "/_dev/failures":
            count, status = data.get("count", 1), data.get("status", 500)
            delay = data.get("delay", DEFAULT_TIMEOUT_HOLD_SECONDS)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise errors.invalid("count", "count must be a non-negative integer")
            if not isinstance(delay, (int, float)) or delay < 0:
                raise errors.invalid("delay", "delay must be a non-negative number of seconds")
            try:
                emu.fail_next(count, status, delay)
            except (ValueError, TypeError) as exc:
                raise errors.invalid("status", str(exc)) from None
            self._json(200, {"pending_failures": len(emu._failures)}, headers)
        elif method == "POST" and path == "/_dev/clock":
            advance = data.get("advance", 0)
            if not isinstance(advance, (int, float)) or advance < 0:
                raise errors.invalid("advance", "advance must be a non-negative number of seconds")
            self._json(200, {"now": emu.advance_clock(advance)}, headers)
        elif method == "POST" and session_match is not None:
            session_id, action = session_match["id"], session_match["action"]
            if action == "complete":
                session, events = emu.store.complete_session(session_id, payment_from_json(data))
            elif action == "expire":
                session, events = emu.store.expire_session(session_id, None)
            elif action == "async_payment":
                succeed = data.get("succeed")
                if not isinstance(succeed, bool):
                    raise errors.missing("succeed")
                session, events = emu.store.settle_async(session_id, succeed)
            else:
                raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")
            outcome = emu.deliver(events, wait=True)
            self._json(200, {"session": session, "webhook": outcome}, headers)
        else:
            raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    # -- the hosted page --

    def _page(self, method: str, session_id: str, body: bytes, headers: dict[str, str]) -> None:
        emu = self.emu
        if method == "GET":
            status, html = page.render(emu.store, session_id, None, None)
            self._send(status, html.encode(), "text/html; charset=utf-8", headers)
            return
        if method != "POST":
            raise StripeError(405, "Method not allowed.")
        form = page.form_values(body)
        try:
            pay = page.payment_from_form(emu.store, session_id, form)
            session, events = emu.store.complete_session(session_id, pay)
        except StripeError as exc:
            status, html = page.render(emu.store, session_id, form, exc)
            self._send(status, html.encode(), "text/html; charset=utf-8", headers)
            return
        emu.deliver(events, wait=True)
        target = page.success_target(session)
        headers["Location"] = target
        self._send(303, b"", "text/plain", headers)

    # -- output --

    def _json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        self._send(status, json.dumps(payload, indent=2).encode(), "application/json", headers)

    _late_by: float = 0.0  # set per request by a "late" failure

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        if self._late_by:
            late_by, self._late_by = self._late_by, 0.0
            self.close_connection = True
            if self.emu._stopping.wait(late_by):
                return
            with contextlib.suppress(OSError):  # the client has usually gone by now
                self._send(status, body, content_type, headers)
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
