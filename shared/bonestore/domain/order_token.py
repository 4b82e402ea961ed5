"""The customer's order token: a capability for one order. Pure (hmac, hashlib, secrets).

The token is ``base64url(HMAC-SHA256(key, "order-token:v1:" + order_id))`` (256 bits):
nothing stores it. The order keeps only its SHA-256 (``Order.order_token_hash``), which
is all ``GET /orders/{id}`` needs to check one, so the read path holds no secret. The
code that moves an order later (the webhook, support) re-derives the token with the same
key to put the order link in an email; see docs/architecture.md ("The order token").
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = b"order-token:v1:"
# A hash compared when the order is unknown, so both answers cost the same.
_NO_ORDER_HASH = hashlib.sha256(b"no such order").hexdigest()


def derive_order_token(key: bytes, order_id: str) -> str:
    """The order's token under ``key`` (URL-safe, 43 characters, 256 bits)."""
    digest = hmac.new(key, PREFIX + order_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def order_token_hash(token: str) -> str:
    """What the order stores: the token's SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, stored_hash: str | None) -> bool:
    """Whether ``token`` opens the order whose stored hash is ``stored_hash``, in time that
    does not depend on where they differ, nor on whether the order (or a token) exists."""
    given = order_token_hash(token or "")
    expected = stored_hash or _NO_ORDER_HASH
    same = hmac.compare_digest(given.encode("ascii"), expected.encode("ascii", "replace"))
    return same and bool(token) and stored_hash is not None
