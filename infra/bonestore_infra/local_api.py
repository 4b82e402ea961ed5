"""The local API Gateway: routes HTTP requests to the Lambda handlers template.yaml names.

Each request becomes a real API Gateway REST proxy event (v1) with a Lambda
context; routes, path parameters and authorizers come from the template's Api
events only. Like Lambda, each function runs in warm "instances" (separately
imported handler modules, each named as Lambda names it, with the function's
Lambda variables in its environment: :mod:`bonestore_infra.lambda_runtime`), one
request at a time each, so module state behaves as it does in AWS.

As strict as the edge in AWS: header names are case-insensitive; a request that is
not HTTP/1.x, a ``Content-Length`` that is not a number, a body that never arrives,
an unknown method (``TRACE``) all get a 4xx in the contract's error body, never a
traceback, an HTML page or a hung connection.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bonestore.api.json_body import header
from bonestore.domain.errors import error_body as contract_error_body
from bonestore_infra.lambda_runtime import (
    function_variables,
    import_handler_module,
    lambda_environment,
)
from bonestore_infra.local_aws import LOCAL_REGION
from bonestore_infra.template import REPO_ROOT, FunctionDef, Route, Template

log = logging.getLogger("bonestore_infra.local_api")
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
# A client that announces a body and stops sending is cut off, as API Gateway does.
READ_TIMEOUT_SECONDS = 5
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_REQUEST_LINE = re.compile(rb"[A-Za-z]+ \S+ HTTP/1\.[01]\r?\n")
STATIC_DIR = REPO_ROOT / "web"
STATIC_PAGES = {"/": "index.html", "/console": "console.html", "/order": "order.html"}
# A local-only page: () -> (content type, body), e.g. the email outbox at /_dev/outbox.
DevPage = Callable[[], tuple[str, bytes]]
# The pages' security headers, as CloudFront's response headers policy sends them
# (template.yaml StorefrontResponseHeadersPolicy; a test holds the two equal). The pages
# load only their own scripts and styles and call only their own origin, and the console
# Cognito's API (staff sign-in, web/console.js); the checkout leaves for Stripe by
# navigation (location.href), which CSP does not restrict.
COGNITO_ORIGIN = f"https://cognito-idp.{LOCAL_REGION}.amazonaws.com"


def content_security_policy(extra_connect: tuple[str, ...] = ()) -> str:
    """The policy; ``extra_connect``: origins a local run adds (the embedded AWS's Cognito)."""
    connect = " ".join(("'self'", COGNITO_ORIGIN, *extra_connect))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def security_headers(extra_connect: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    return (
        ("Content-Security-Policy", content_security_policy(extra_connect)),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    )


SECURITY_HEADERS = security_headers()

Authorizer = Callable[[str], dict[str, str]]


class AuthorizationError(Exception):
    pass


@dataclass
class LambdaContext:
    """The attributes of the context object Lambda passes to a Python handler."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str
    invoked_function_arn: str
    log_group_name: str
    log_stream_name: str
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionPool:
    """Warm instances of one function; a new instance is a cold start (a fresh module import)."""

    def __init__(self, function: FunctionDef) -> None:
        self.function = function
        self._idle: list[ModuleType] = []
        self._lock = threading.Lock()
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.environment = function_variables(
            function_name=function.logical_id,
            handler=function.handler,
            memory_size=function.memory_size,
            region=region,
        )

    def _load(self) -> ModuleType:
        module_name = self.function.handler.rsplit(".", 1)[0]  # "app" for app.lambda_handler
        return import_handler_module(module_name, self.function.module_path)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            module = self._idle.pop() if self._idle else None
        with lambda_environment(self.environment):
            if module is None:
                module = self._load()
            try:
                fn = self.function
                context = LambdaContext(
                    function_name=fn.logical_id,
                    memory_limit_in_mb=fn.memory_size,
                    timeout_seconds=fn.timeout,
                    aws_request_id=str(uuid.uuid4()),
                    invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{fn.logical_id}",
                    log_group_name=f"/aws/lambda/{fn.logical_id}",
                    log_stream_name=datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]local"),
                )
                handler = getattr(module, fn.handler_name)
                result: dict[str, Any] = handler(event, context)
                return result
            finally:
                with self._lock:
                    self._idle.append(module)


def build_event(
    *,
    route: Route,
    method: str,
    path: str,
    path_params: dict[str, str],
    query: str,
    headers: dict[str, list[str]],
    body: bytes,
    stage: str,
    source_ip: str,
    claims: dict[str, str] | None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) Lambda proxy event, as API Gateway builds it."""
    single_headers = {k: v[-1] for k, v in headers.items()}
    multi_query = {k: v for k, v in parse_qs(query, keep_blank_values=True).items()}
    text: str | None
    is_b64 = False
    if not body:
        text = None
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "resourceId": "local",
        "resourcePath": route.path,
        "httpMethod": method,
        "path": f"/{stage}{path}",
        "stage": stage,
        "requestId": str(uuid.uuid4()),
        "extendedRequestId": str(uuid.uuid4()),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "protocol": "HTTP/1.1",
        "domainName": header(single_headers, "Host") or "127.0.0.1",
        "identity": {
            "sourceIp": source_ip,
            "userAgent": header(single_headers, "User-Agent"),
            "accountId": None,
            "caller": None,
            "user": None,
        },
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": claims}
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": is_b64,
    }


def error_body(code: str, message: str) -> bytes:
    return json.dumps(contract_error_body(code, message)).encode()


# What the gateway says for the statuses http.server produces on its own.
_SERVER_ERRORS = {
    400: ("bad_request", "The request is not valid HTTP/1.1."),
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "That method is not served here."),
    408: ("request_timeout", "The request body did not arrive in time."),
    411: ("length_required", "A request body needs a Content-Length."),
    413: ("payload_too_large", "The request body is too large."),
    414: ("uri_too_long", "The request URI is too long."),
    431: ("request_header_fields_too_large", "The request headers are too large."),
    505: ("http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are served."),
}


class _Server(ThreadingHTTPServer):
    # API Gateway absorbs bursts; socketserver's default backlog of 5 would reset them.
    request_queue_size = 128
    daemon_threads = True


class LocalApi:
    def __init__(
        self,
        template: Template,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        stage: str = "dev",
        authorizer: Authorizer | None = None,
        static_dir: Path = STATIC_DIR,
        cors_origin: str = "*",
        dev_pages: dict[str, DevPage] | None = None,
        connect_sources: tuple[str, ...] = (),
    ) -> None:
        self.template = template
        self.dev_pages = dict(dev_pages or {})
        self.routes = template.routes()
        self.pools = {fid: FunctionPool(fn) for fid, fn in template.functions().items()}
        self.stage = stage
        self.authorizer = authorizer
        self.static_dir = static_dir
        self.cors_origin = cors_origin
        # Locally the console signs in against the embedded AWS, not cognito-idp.
        self.security_headers = security_headers(connect_sources)
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for method and path, its path parameters, and the methods the path allows."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            if route.method in (method, "ANY"):
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return route, params, allowed
            allowed.append(route.method)
        return None, {}, allowed

    def authorize(self, route: Route, headers: dict[str, list[str]]) -> dict[str, str] | None:
        if route.authorizer is None:
            return None
        if self.authorizer is None:
            raise AuthorizationError("no authorizer configured")
        values = next((v for k, v in headers.items() if k.lower() == "authorization"), [])
        if not values or not values[-1].strip():
            raise AuthorizationError("missing bearer token")
        token = values[-1].strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        try:
            return self.authorizer(token)
        except Exception as exc:
            raise AuthorizationError(str(exc)) from exc

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-api", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "bonestore-local"
            protocol_version = "HTTP/1.1"
            timeout = READ_TIMEOUT_SECONDS

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                """http.server's own errors (bad request line, unknown method...) in the
                contract's body instead of an HTML page; an unknown method is a 405."""
                if code == 501:
                    code = 405
                error_code, text = _SERVER_ERRORS.get(code, ("bad_request", "Bad request."))
                self.close_connection = True
                if self.request_version == "HTTP/0.9" or not hasattr(self, "command"):
                    self.request_version = "HTTP/1.0"
                if not getattr(self, "command", None):
                    self.command = "GET"
                if not hasattr(self, "requestline"):
                    self.requestline = ""
                headers = [("Connection", "close")]
                if code == 405:  # RFC 9110: a 405 says what the resource does allow
                    _, _, allowed = api.match("", urlsplit(getattr(self, "path", "/")).path)
                    headers.append(("Allow", ", ".join(sorted({*allowed, "OPTIONS"}))))
                self._send(code, error_body(error_code, text), headers)

            def parse_request(self) -> bool:
                # http.server reads headers after an HTTP/0.9 line ("GET /") and waits
                # forever; API Gateway only speaks HTTP/1.x (and 2), so refuse it at once.
                line: bytes = getattr(self, "raw_requestline", b"")
                if line.strip() and not _REQUEST_LINE.fullmatch(line):
                    self.requestline = line.decode("latin-1").rstrip("\r\n")[:200]
                    self.command, self.request_version = "GET", "HTTP/1.0"
                    self.send_error(400)
                    return False
                return super().parse_request()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

            def _send(
                self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
            ) -> None:
                self.send_response(status)
                names = {k.lower() for k, _ in headers or []}
                for key, value in headers or []:
                    self.send_header(key, value)
                if "content-type" not in names:
                    self.send_header("Content-Type", "application/json")
                # CloudFront's policy adds these to every behaviour, the API's answers too.
                for key, value in api.security_headers:
                    if key.lower() not in names:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _headers(self) -> dict[str, list[str]]:
                result: dict[str, list[str]] = {}
                for key, value in self.headers.items():
                    # A field value has no surrounding whitespace (RFC 9110 5.5; API
                    # Gateway strips it): http.server keeps the trailing part.
                    result.setdefault(key, []).append(value.strip(" \t"))
                return result

            def _static(self, path: str) -> bool:
                page = api.dev_pages.get(path)
                if page is not None:
                    ctype, content = page()
                    self._send(
                        200, content, [("Content-Type", ctype), ("Cache-Control", "no-store")]
                    )
                    return True
                name = STATIC_PAGES.get(path)
                if name is None and path.startswith("/static/"):
                    name = path[len("/static/") :]
                if name is None:
                    return False
                file = (api.static_dir / name).resolve()
                if api.static_dir.resolve() not in file.parents or not file.is_file():
                    return False
                ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                if ctype.startswith("text/"):
                    ctype += "; charset=utf-8"
                self._send(200, file.read_bytes(), [("Content-Type", ctype)])
                return True

            def _handle(self) -> None:
                started = time.perf_counter()
                method = self.command.upper()
                split = urlsplit(self.path)
                path = split.path or "/"
                declared = self.headers.get("Content-Length")
                if self.headers.get("Transfer-Encoding"):
                    self.send_error(411)
                    return
                if declared is not None and not _CONTENT_LENGTH.fullmatch(declared.strip()):
                    self.close_connection = True
                    self._send(
                        400,
                        error_body(
                            "invalid_content_length",
                            "Content-Length must be a non-negative integer.",
                        ),
                        [("Connection", "close")],
                    )
                    return
                length = int(declared or 0)
                if length > MAX_BODY_BYTES:
                    # Drain what the client sends (within reason) so it reads our answer
                    # instead of a reset connection, as API Gateway answers 413.
                    # A client that declares more than it sends still gets the 413 once the
                    # read times out (before, the timeout closed the connection unanswered).
                    remaining = min(length, 4 * MAX_BODY_BYTES)
                    while remaining > 0:
                        try:
                            chunk = self.rfile.read(min(remaining, 1 << 20))
                        except TimeoutError:
                            break
                        if not chunk:
                            break
                        remaining -= len(chunk)
                    self.close_connection = True
                    self._send(
                        413, error_body("payload_too_large", "The request body is too large.")
                    )
                    return
                try:
                    body = self.rfile.read(length) if length else b""
                except TimeoutError:
                    body = b""
                if len(body) < length:
                    self.send_error(408)
                    return
                route, params, allowed = api.match(method, path)
                if route is None:
                    if method in ("GET", "HEAD") and self._static(path):
                        return
                    if allowed and method == "OPTIONS":
                        self._send(204, b"", self._cors(allowed))
                        return
                    if allowed:
                        self._send(
                            405,
                            error_body("method_not_allowed", f"{method} is not allowed on {path}."),
                            [("Allow", ", ".join(sorted(set(allowed))))],
                        )
                        return
                    self._send(404, error_body("not_found", f"No route for {method} {path}."))
                    return
                headers = self._headers()
                try:
                    claims = api.authorize(route, headers)
                except AuthorizationError as exc:
                    log.info("401 %s %s: %s", method, path, exc)
                    self._send(401, error_body("unauthorized", "A valid bearer token is required."))
                    return
                event = build_event(
                    route=route,
                    method=method,
                    path=path,
                    path_params=params,
                    query=split.query,
                    headers=headers,
                    body=body,
                    stage=api.stage,
                    source_ip=self.client_address[0],
                    claims=claims,
                )
                try:
                    result = api.pools[route.function_id].invoke(event)
                    status, out_headers, out_body = _response_from_lambda(result)
                except Exception:
                    log.error("%s failed:\n%s", route.function_id, traceback.format_exc())
                    self._send(502, error_body("bad_gateway", "The function failed to answer."))
                    return
                self._send(status, out_body, out_headers)
                log.info(
                    "%s %s -> %s (%s, %.1f ms)",
                    method,
                    self.path,
                    status,
                    route.function_id,
                    (time.perf_counter() - started) * 1000,
                )

            def _cors(self, allowed: list[str]) -> list[tuple[str, str]]:
                return [
                    ("Access-Control-Allow-Origin", api.cors_origin),
                    ("Access-Control-Allow-Methods", ", ".join(sorted({*allowed, "OPTIONS"}))),
                    # template.yaml's Cors AllowHeaders (X-Order-Token: the order page).
                    (
                        "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Idempotency-Key, X-Order-Token",
                    ),
                    ("Access-Control-Max-Age", "300"),
                ]

            def _handle_safely(self) -> None:
                try:
                    self._handle()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True
                except Exception:
                    log.exception("local gateway failed on %s %s", self.command, self.path)
                    self.close_connection = True
                    self._send(502, error_body("bad_gateway", "The gateway failed to answer."))

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle_safely

        return Handler


def _response_from_lambda(result: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(result, dict) or "statusCode" not in result:
        raise ValueError("the handler did not return a proxy response")
    status = int(result["statusCode"])
    HTTPStatus(status)  # raises on nonsense
    headers: list[tuple[str, str]] = []
    for key, value in (result.get("headers") or {}).items():
        headers.append((key, str(value)))
    single = {k.lower() for k in (result.get("headers") or {})}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if key.lower() in single:
            continue
        headers.extend((key, str(v)) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return status, headers, body
