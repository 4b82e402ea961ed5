"""The one small JSON-over-HTTP client of the operator tools, the benches, the Stripe
emulator's webhook delivery and the tests: stdlib ``urllib`` only (no client library
between the caller and the wire, and nothing more to install).

An HTTP error status is an answer like any other (``HttpResponse.status``); only getting
no answer at all raises: ``urllib.error.URLError`` (refused, unknown host), ``TimeoutError``
or another ``OSError``. Each caller says in its own words what that means.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    reason: str = ""

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not JSON (or is empty)."""
        return json.loads(self.body)

    def json_or_text(self) -> Any:
        """The body as JSON, else as text; None when empty."""
        if not self.body:
            return None
        try:
            return self.json()
        except ValueError:
            return self.body.decode(errors="replace")


def request(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> HttpResponse:
    """One request: ``body`` sent as JSON (or ``raw`` bytes as they are), a bearer
    ``token`` if given; ``headers`` override the default ``Content-Type``."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    prepared = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            return HttpResponse(
                response.status, dict(response.headers), response.read(), response.reason
            )
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read(), str(error.reason))
