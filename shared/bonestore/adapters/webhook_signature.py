"""Stripe's webhook signature scheme, without importing ``stripe`` (cold start).

``Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>,v0=...``: each ``v1`` is
HMAC-SHA256(secret, f"{t}.{raw_body}"). The event is genuine when any ``v1``
matches (several appear while a secret is being rolled) and ``t`` is within the
tolerance of now (300 s, Stripe's default), which stops replays of old
deliveries. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from bonestore.domain.errors import InvalidInput

DEFAULT_TOLERANCE_SECONDS = 300
SCHEME = "v1"


class InvalidSignature(InvalidInput):
    code = "invalid_signature"


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("The Stripe-Signature timestamp is not a number.") from None
        elif key == SCHEME and value:
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("The Stripe-Signature header has no timestamp.")
    if not signatures:
        raise InvalidSignature("The Stripe-Signature header has no v1 signature.")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    secrets: str | list[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check ``header`` against the raw ``payload``; returns the signed timestamp.

    ``secrets`` may hold several endpoint secrets (a roll in progress): any one that
    matches is enough. Raises :class:`InvalidSignature` (400 ``invalid_signature``).
    """
    if not header:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    timestamp, signatures = _parse(header)
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    matched = False
    for secret in candidates:
        expected = compute_signature(payload, secret, timestamp)
        for signature in signatures:
            # Compare every candidate (no early exit) so timing says nothing about which.
            matched |= hmac.compare_digest(expected.encode(), signature.encode())
    if not matched:
        raise InvalidSignature("No signature matches the payload.")
    current = time.time() if now is None else now
    if tolerance > 0 and abs(current - timestamp) > tolerance:
        raise InvalidSignature("The signature's timestamp is outside the tolerance zone.")
    return timestamp
