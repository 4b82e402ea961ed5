"""Contract v2's rules for a request body, checked before any route code sees it.

For every route that takes a body (``docs/api.md``, Errors):

- a body whose ``Content-Type`` is not JSON -> 415 ``unsupported_media_type``
  (``application/json`` in any case, with parameters such as ``charset``, and any
  ``application/*+json`` are JSON; a browser's ``text/plain`` is not);
- over the size limit -> 413 ``payload_too_large``;
- not valid UTF-8, not JSON, nested deeper than the API needs, or not a JSON object
  -> 400 ``invalid_json``.

Pure and stdlib-only, so the catalog's lean router could use it without Powertools.
The depth is measured without recursing (a body nested 100,000 deep must be a 400,
never a ``RecursionError``), and only after the size check bounds the work.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from bonestore.domain.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType

# A cart of 100 lines with a full address is under 10 KiB; 64 KiB leaves room for any
# client-built request and keeps a hostile body cheap to refuse. Stripe's events are a
# few KiB (a checkout session with 50 metadata keys of 500 characters is ~30 KiB).
MAX_BODY_BYTES = 64 * 1024
MAX_WEBHOOK_BODY_BYTES = 256 * 1024
# The deepest request the API takes is ~4 levels (items[].sku), Stripe's events ~8.
MAX_JSON_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

_JSON_MEDIA_TYPE = re.compile(r"application/(?:[a-z0-9!#$&^_.-]+\+)?json", re.IGNORECASE)
# JSON strings, so brackets inside them are not counted as nesting (unrolled loop: linear).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json``, case-insensitive, parameters allowed."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip()
    return _JSON_MEDIA_TYPE.fullmatch(media_type) is not None


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text, without recursion."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(
    raw: bytes, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> dict[str, Any]:
    """The body as a JSON object, or the contract's 413/400."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJson("The request body is not valid UTF-8.") from None
    if nesting_depth(text) > max_depth:
        raise InvalidJson(f"The request body is nested deeper than {max_depth} levels.")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidJson(f"The request body is not valid JSON: {reason}.") from None
    if not isinstance(value, dict):
        raise InvalidJson("The request body must be a JSON object.")
    return value


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A header's value, its name matched case-insensitively (as HTTP and API Gateway do)."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            return str(value) if value is not None else None
    return None


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The body's bytes, as API Gateway hands them over (base64 when it saw binary)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJson("The request body is not valid base64.") from None
    return str(body).encode("utf-8", "surrogatepass")


def event_body(
    event: Mapping[str, Any],
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> tuple[dict[str, Any] | None, bytes]:
    """A REST proxy event's body as a JSON object, and the bytes it was parsed from (a
    route may check a signature on them), or the contract's 415/413/400 for one that
    breaks the rules; (None, b"") when the request has no body and says none (or its
    method takes none): the route's validation says what is missing."""
    if str(event.get("httpMethod") or "").upper() not in BODY_METHODS:
        return None, b""
    content_type = header(event.get("headers"), "Content-Type")
    if not event.get("body"):
        # Declared JSON but empty: the empty text is not a JSON document (contract v2:
        # not valid JSON -> invalid_json). API Gateway hands an empty body over as null.
        if content_type is not None and is_json_media_type(content_type):
            raise InvalidJson("The request body is empty; send a JSON object.")
        return None, b""
    if not is_json_media_type(content_type):
        shown = (content_type or "none")[:100]
        raise UnsupportedMediaType(
            f"The request body must be JSON (Content-Type application/json), not {shown!r}."
        )
    raw = raw_body(event)
    return parse_json_object(raw, max_bytes=max_bytes, max_depth=max_depth), raw
