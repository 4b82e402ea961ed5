"""Reservation limits: how much stock one customer may hold, how fast one client may check out.

Pure rules; the counters live in DynamoDB (``bonestore.adapters.limits``, and the
holder's counters inside the reservation's own transaction in
``bonestore.adapters.orders``). Decisions (docs/api.md, docs/deploy.md#reservation-limits):

- A *holder* is the customer's email (trimmed, lower-cased, a ``+tag`` dropped: one
  mailbox is one customer), or, for a checkout without an email, the client address.
  Keys are digests: the limits table holds no email or address in clear.
- A holder may have at most ``max_open_reservations`` checkouts holding stock at once,
  and at most ``max_units_per_sku`` units of one SKU across them. Only physical lines
  count: a digital product holds no stock.
- One email, and one client address, may start at most so many checkouts per minute
  (fixed one-minute windows; a new window is a new counter, so nothing waits for a TTL).
  The address limit is generous: many customers share one address behind a NAT.
- A holder's counters carry the latest expiry of the reservations they count plus the
  sweeper's grace and one sweep: a counter past it is read as empty (the sweeper has
  released everything it counted), whether or not DynamoDB's TTL has deleted it yet.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from bonestore.domain.errors import BonestoreError

WINDOW_SECONDS = 60
# The sweeper releases a reservation GRACE (300 s) after it expired, on a 5-minute schedule:
# a holder's counter outlives its newest reservation by both, and a minute of slack.
COUNTER_SLACK_SECONDS = 300 + 300 + 60
# IPv6 clients are counted per /64: one subscriber (one host, one home) is given a whole
# /64, so counting single addresses would let one machine rotate through 2**64 of them.
IPV6_PREFIX = 64


class RateLimited(BonestoreError):
    """429 ``rate_limited``: one customer or client over a fair share; ``Retry-After`` says when."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: list[Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))


# NamedTuples, not dataclasses: a dataclass costs ~4 ms to create on this machine, and
# this module is on the checkout function's cold path.
class HoldLimits(NamedTuple):
    max_units_per_sku: int
    max_open_reservations: int


class RateLimits(NamedTuple):
    per_email_per_minute: int
    per_address_per_minute: int


class HeldStock(NamedTuple):
    """What a holder's counter says it holds (expired counters read as empty)."""

    open_reservations: int = 0
    units: Mapping[str, int] | None = None
    expires_at: int = 0

    def units_of(self, sku: str) -> int:
        return (self.units or {}).get(sku, 0)


def normalize_email(email: str) -> str:
    """One mailbox, one customer: ``Jane+shop@Example.com`` is ``jane@example.com``."""
    local, _, domain = email.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def digest(kind: str, value: str) -> str:
    return f"{kind}:" + hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


def address_key(address: str) -> str | None:
    """The client address as counted: IPv4 as is, IPv6 by its /64; None if not an address."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def holder_key(email: str | None, address: str | None) -> str | None:
    """Who holds a reservation: the email if given, else the client address."""
    if email:
        return digest("e", normalize_email(email))
    counted = address_key(address) if address else None
    return digest("a", counted) if counted else None


def rate_keys(email: str | None, address: str | None, limits: RateLimits) -> list[tuple[str, int]]:
    """The per-minute counters one checkout hits, address first, with their limits."""
    keys: list[tuple[str, int]] = []
    counted = address_key(address) if address else None
    if counted:
        keys.append((digest("a", counted), limits.per_address_per_minute))
    if email:
        keys.append((digest("e", normalize_email(email)), limits.per_email_per_minute))
    return keys


def rate_window(now: float) -> tuple[int, int]:
    """The current window's number and the seconds until the next one starts (>= 1)."""
    window = int(now // WINDOW_SECONDS)
    return window, max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


def counter_expiry(reservation_expires_at: float) -> int:
    """When a holder's counter may be read as empty (and TTL may delete it)."""
    return int(reservation_expires_at) + COUNTER_SLACK_SECONDS


def cart_key(holder: str, parts: Mapping[str, Any]) -> str:
    """The same cart for the same holder, as one key: a repeat reuses the open checkout."""
    import json

    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f"cart:{holder}:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def hold_refusal(
    held: HeldStock,
    lines: Iterable[tuple[str, int]],
    limits: HoldLimits,
    *,
    now: float,
) -> RateLimited | None:
    """Why holding ``lines`` more would exceed the holder's share, or None if it may.

    The adapter's condition expression says the same; this is the specification and
    what the refusal tells the customer (and when to retry: when their checkouts expire).
    """
    if held.expires_at <= now:
        held = HeldStock()
    retry = max(1, held.expires_at - COUNTER_SLACK_SECONDS - int(now))
    if held.open_reservations >= limits.max_open_reservations:
        return RateLimited(
            f"You already have {held.open_reservations} checkouts open. Finish or cancel one, "
            "or try again once they expire.",
            retry_after=retry,
            details=[
                {
                    "limit": "open_reservations",
                    "max": limits.max_open_reservations,
                    "held": held.open_reservations,
                }
            ],
        )
    over: list[dict[str, Any]] = [
        {
            "limit": "units_per_sku",
            "sku": sku,
            "max": limits.max_units_per_sku,
            "held": held.units_of(sku),
            "requested": quantity,
        }
        for sku, quantity in lines
        if held.units_of(sku) + quantity > limits.max_units_per_sku
    ]
    if over:
        skus = ", ".join(str(item["sku"]) for item in over)
        return RateLimited(
            f"One customer may hold at most {limits.max_units_per_sku} of {skus} in open "
            "checkouts at a time. Finish or cancel an open checkout, or try again once it expires.",
            retry_after=retry if held.open_reservations else WINDOW_SECONDS,
            details=over,
        )
    return None


def too_many_checkouts(retry_after: int) -> RateLimited:
    return RateLimited(
        "Too many checkouts were started in the last minute; please wait a moment and retry.",
        retry_after=retry_after,
        details=[{"limit": "checkouts_per_minute"}],
    )


class CartAlreadyOpen(Exception):
    """The holder already has an open checkout for this cart (``order``): reuse it."""

    def __init__(self, order: Any) -> None:
        super().__init__(f"cart already open as {order.order_id}")
        self.order = order
