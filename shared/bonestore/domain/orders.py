"""Orders: identifiers, the status state machine and the timeline. Pure; no I/O.

An order is created ``pending_payment`` with its stock reserved. Stripe's events
move it along the transitions below and nowhere else, so a duplicate or
out-of-order event finds the order already past it and changes nothing (it is
still recorded on the timeline).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Literal, TypeGuard

from bonestore.domain.errors import Conflict

OrderStatus = Literal[
    "pending_payment", "paid", "held", "payment_failed", "expired", "refunded", "fulfilled"
]
ORDER_STATUSES: tuple[OrderStatus, ...] = (
    "pending_payment",
    "paid",
    "held",
    "payment_failed",
    "expired",
    "refunded",
    "fulfilled",
)

# Allowed moves. `held` is an order paid for but refused by the rules at payment:
# support releases it (-> paid) or refunds it. An `expired` or `payment_failed` order
# whose money arrives anyway (its stock already back on sale) is refunded, never revived.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"paid", "held", "payment_failed", "expired"}),
    # paid -> held: fulfilment ran the rules again before handing over, and a rule
    # changed since payment now refuses the order.
    "paid": frozenset({"refunded", "fulfilled", "held"}),
    "held": frozenset({"paid", "refunded"}),
    "fulfilled": frozenset({"refunded"}),
    "payment_failed": frozenset({"refunded"}),
    "expired": frozenset({"refunded"}),
    "refunded": frozenset(),
}

# What happens to reserved stock when an order enters a status.
# release: back to sale; commit: sold (leaves the reserved counter); keep: stays reserved.
StockEffect = Literal["release", "commit", "keep"]
STOCK_ON_ENTER: dict[str, StockEffect] = {
    "paid": "commit",
    "held": "keep",
    "payment_failed": "release",
    "expired": "release",
    "refunded": "release",
    "fulfilled": "keep",
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


def sources_of(target: str) -> tuple[str, ...]:
    """Statuses from which ``target`` may be entered."""
    return tuple(sorted(s for s, targets in TRANSITIONS.items() if target in targets))


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"An order cannot go from {current} to {target}.")


def new_order_id() -> str:
    """Time-ordered, unguessable: ``ord_`` + 12 hex of milliseconds + 16 random hex."""
    return f"ord_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


# The longest order id a route or a message may name (new_order_id makes 32 characters;
# older orders were shorter): a longer or empty one is no order, never read nor echoed whole.
MAX_ORDER_ID_LENGTH = 100


def could_be_order_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` may name an order, so that looking it up is worth a read."""
    return isinstance(value, str) and bool(value) and len(value) <= MAX_ORDER_ID_LENGTH


def iso(at: datetime) -> str:
    """The one timestamp format of orders: UTC, milliseconds, ``Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def in_utc(value: datetime) -> datetime:
    """``value`` in UTC, a naive one read as UTC. Raises ValueError when an offset moves
    it outside the years 1 to 9999 ("0001-01-01T00:00:00+01:00"), which datetime cannot
    hold: for a client's or a ruleset's time that is bad input, not an overflow."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the years 1 to 9999 in UTC") from None


def parse_iso(value: str) -> datetime:
    """An ISO-8601 time (``Z`` allowed) as an aware datetime; a naive one is UTC.
    Raises ValueError. The one parser of the timestamps ``iso`` writes (and of times ops type)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def can_enter(current: str, target: str) -> bool:
    """Whether an order in ``current`` may move to ``target`` (an event that may not is
    a duplicate or out of order: it is recorded and changes nothing)."""
    return target in STOCK_ON_ENTER and current in sources_of(target)


# The only stock moves: reserved stock is released or committed, once. A table, not
# string comparisons: one place to read, and nothing that compares by order or identity.
_STOCK_MOVES: dict[tuple[str, StockEffect], str] = {
    ("reserved", "release"): "released",
    ("reserved", "commit"): "committed",
}


def stock_after(stock_state: str, target: str) -> tuple[str, StockEffect | None]:
    """The order's stock state after entering ``target``, and what to do to the products'
    counters (None: nothing). Reserved stock is released or committed once; sold goods
    come back only through a return, never through a refund."""
    effect = STOCK_ON_ENTER[target]
    after = _STOCK_MOVES.get((stock_state, effect))
    return (stock_state, None) if after is None else (after, effect)
