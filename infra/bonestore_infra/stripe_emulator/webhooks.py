"""Webhook delivery the way Stripe does it: signed JSON POSTs, retried on failure."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bonestore_infra import http_json

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 10.0


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Dispatcher:
    """Delivers events to one endpoint; retries run on background threads."""

    def __init__(
        self,
        *,
        url: str | None,
        secret: str,
        retry_delays: Sequence[float],
        payload: Callable[[str], bytes],
        record: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays = tuple(retry_delays)
        self._payload = payload
        self._record = record
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def deliver(self, event_id: str, *, wait: bool) -> dict[str, Any] | None:
        """Send an event. With ``wait`` the first attempt happens now and its outcome is
        returned; otherwise it runs in the background. Failures are retried later."""
        if self.url is None:
            return None
        if not wait:
            self._spawn(event_id, (0.0, *self.retry_delays))
            return None
        attempt = self.attempt(event_id)
        if not attempt["ok"]:
            self._spawn(event_id, self.retry_delays)
        return attempt

    def attempt(self, event_id: str) -> dict[str, Any]:
        url = self.url
        assert url is not None
        body = self._payload(event_id)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(body, self.secret, timestamp),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            status = http_json.request(
                "POST", url, raw=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS
            ).status
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt: dict[str, Any] = {
            "at": timestamp,
            "url": url,
            "status": status,
            "ok": status is not None and 200 <= status < 300,
            "error": error,
            "duration_ms": round((time.monotonic() - started) * 1000),
        }
        self._record(event_id, attempt)
        log.debug("webhook %s -> %s %s", event_id, status, error or "")
        return attempt

    def _spawn(self, event_id: str, delays: Sequence[float]) -> None:
        if not delays:
            return
        # Started under the lock: stop() copies the set under the same lock, so it never
        # sees a thread that is not started yet (join() raises on one), and a spawn that
        # races stop() either lands in its copy or sees _stopping and starts nothing.
        with self._threads_lock:
            if self._stopping.is_set():
                return
            thread = threading.Thread(
                target=self._retry, args=(event_id, tuple(delays)), daemon=True, name=event_id
            )
            thread.start()
            self._threads.add(thread)

    def _retry(self, event_id: str, delays: tuple[float, ...]) -> None:
        try:
            for delay in delays:
                if self._stopping.wait(delay) or self.url is None:
                    return
                if self.attempt(event_id)["ok"]:
                    return
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._threads_lock:
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
