"""The local API Gateway: routes HTTP requests to the Lambda handlers template.yaml names.

Each request becomes a real API Gateway REST proxy event (v1) with a Lambda
context; routes, path parameters and authorizers come from the template's Api
events only. Like Lambda, each function runs in warm "instances" (separately
imported handler modules), one request at a time each, so module state behaves
as it does in AWS.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import logging
import mimetypes
import sys
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

from bonestore_infra.template import REPO_ROOT, FunctionDef, Route, Template

log = logging.getLogger("bonestore_infra.local_api")
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
STATIC_DIR = REPO_ROOT / "web"
STATIC_PAGES = {"/": "index.html", "/console": "console.html", "/order": "order.html"}
# A local-only page: () -> (content type, body), e.g. the email outbox at /_dev/outbox.
DevPage = Callable[[], tuple[str, bytes]]

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

    _counter = itertools.count()

    def __init__(self, function: FunctionDef) -> None:
        self.function = function
        self._idle: list[ModuleType] = []
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        name = f"bonestore_local_{self.function.logical_id}_{next(self._counter)}"
        spec = importlib.util.spec_from_file_location(name, self.function.module_path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {self.function.module_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            module = self._idle.pop() if self._idle else None
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
        "domainName": single_headers.get("Host", "127.0.0.1"),
        "identity": {
            "sourceIp": source_ip,
            "userAgent": single_headers.get("User-Agent"),
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
    return json.dumps({"error": {"code": code, "message": message}}).encode()


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
    ) -> None:
        self.template = template
        self.dev_pages = dict(dev_pages or {})
        self.routes = template.routes()
        self.pools = {fid: FunctionPool(fn) for fid, fn in template.functions().items()}
        self.stage = stage
        self.authorizer = authorizer
        self.static_dir = static_dir
        self.cors_origin = cors_origin
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
        values = headers.get("Authorization") or headers.get("authorization") or []
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
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _headers(self) -> dict[str, list[str]]:
                result: dict[str, list[str]] = {}
                for key, value in self.headers.items():
                    result.setdefault(key, []).append(value)
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
                self._send(200, file.read_bytes(), [("Content-Type", ctype)])
                return True

            def _handle(self) -> None:
                started = time.perf_counter()
                method = self.command.upper()
                split = urlsplit(self.path)
                path = split.path or "/"
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    # Drain what the client sends (within reason) so it reads our answer
                    # instead of a reset connection, as API Gateway answers 413.
                    remaining = min(length, 4 * MAX_BODY_BYTES)
                    while remaining > 0:
                        chunk = self.rfile.read(min(remaining, 1 << 20))
                        if not chunk:
                            break
                        remaining -= len(chunk)
                    self.close_connection = True
                    self._send(
                        413, error_body("payload_too_large", "The request body is too large.")
                    )
                    return
                body = self.rfile.read(length) if length else b""
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
                    (
                        "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Idempotency-Key",
                    ),
                    ("Access-Control-Max-Age", "300"),
                ]

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

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
