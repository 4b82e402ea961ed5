"""The order status state machine, as the contract and the policy describe it.

The expected table below is written out from the contract (api-contract.md, "Order
status", support release/refund, shipments) and the domain's rule that money arriving
for a dead order is refunded, never revived; it is not read from the code. Every one
of the 7 x 7 moves is tried.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from bonestore.domain.errors import Conflict
from bonestore.domain.orders import (
    MAX_ORDER_ID_LENGTH,
    ORDER_STATUSES,
    STOCK_ON_ENTER,
    InvalidTransition,
    can_enter,
    check_transition,
    could_be_order_id,
    new_order_id,
    now_iso,
    parse_iso,
    sources_of,
    stock_after,
)

pytestmark = pytest.mark.unit

STATUSES = ("pending_payment", "paid", "held", "payment_failed", "expired", "refunded", "fulfilled")

ALLOWED = {
    # Stripe's events on a new order: paid, refused by the rules at payment (held),
    # failed, or the session expired.
    ("pending_payment", "paid"),
    ("pending_payment", "held"),
    ("pending_payment", "payment_failed"),
    ("pending_payment", "expired"),
    # Support: "a held order becomes paid when the rules permit it now", or is refunded.
    ("held", "paid"),
    ("held", "refunded"),
    # Support refunds a paid order; ops records the shipment (fulfilled).
    ("paid", "refunded"),
    ("paid", "fulfilled"),
    # Fulfilment: "if a rule changed since payment and now refuses it, it becomes held instead".
    ("paid", "held"),
    # A refund after shipping (Stripe's charge.refunded).
    ("fulfilled", "refunded"),
    # Money that arrives for an order already failed or expired is refunded, not revived.
    ("payment_failed", "refunded"),
    ("expired", "refunded"),
}
ALL_MOVES = [(a, b) for a in STATUSES for b in STATUSES]


def test_the_statuses_are_the_contracts_seven() -> None:
    assert ORDER_STATUSES == STATUSES


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_an_allowed_move_is_accepted(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"), [m for m in ALL_MOVES if m not in ALLOWED], ids="{0[0]}->{0[1]}".format
)
def test_every_other_move_is_refused_as_invalid_transition(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, target)
    error = info.value
    assert isinstance(error, Conflict)
    assert error.status == 409
    assert error.code == "invalid_transition"
    assert error.message == f"An order cannot go from {current} to {target}."


@pytest.mark.parametrize("current", ["", "PAID", "shipped", "cancelled"])
def test_a_status_the_machine_does_not_know_goes_nowhere(current: str) -> None:
    for target in STATUSES:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


def test_nothing_leaves_refunded_and_nothing_reenters_pending_payment() -> None:
    assert sources_of("pending_payment") == ()
    for target in STATUSES:
        with pytest.raises(InvalidTransition):
            check_transition("refunded", target)


@pytest.mark.parametrize("target", STATUSES)
def test_the_sources_of_a_status_are_exactly_the_allowed_moves_into_it(target: str) -> None:
    expected = tuple(sorted(a for a, b in ALLOWED if b == target))
    assert sources_of(target) == expected


# What a move does to the stock reserved at checkout (api-contract: "stock is reserved
# when the checkout is created"): sold when paid, still held for a held or shipped order,
# back on sale when the order dies or is refunded.
STOCK = {
    "paid": "commit",
    "held": "keep",
    "fulfilled": "keep",
    "payment_failed": "release",
    "expired": "release",
    "refunded": "release",
}


def test_each_status_entered_says_what_happens_to_the_reserved_stock() -> None:
    assert STOCK_ON_ENTER == STOCK
    assert "pending_payment" not in STOCK_ON_ENTER  # only a new order starts there


def test_an_order_id_is_time_ordered_and_unguessable() -> None:
    before = int(time.time() * 1000)
    first = new_order_id()
    second = new_order_id()
    after = int(time.time() * 1000)
    for order_id in (first, second):
        assert re.fullmatch(r"ord_[0-9a-f]{12}[0-9a-f]{16}", order_id), order_id
        assert before <= int(order_id[4:16], 16) <= after
    assert first != second
    assert first[16:] != second[16:]  # the random half differs, not just the clock


def test_timestamps_are_utc_to_the_millisecond_with_a_z() -> None:
    stamp = now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 5


@pytest.mark.parametrize(("current", "target"), ALL_MOVES, ids="{0[0]}->{0[1]}".format)
def test_an_event_may_enter_a_status_exactly_when_the_move_is_allowed(
    current: str, target: str
) -> None:
    assert can_enter(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize(
    ("state", "target", "after"),
    [
        # Reserved stock is sold once (paid) or put back once (failed, expired, refunded).
        ("reserved", "paid", ("committed", "commit")),
        ("reserved", "expired", ("released", "release")),
        ("reserved", "payment_failed", ("released", "release")),
        ("reserved", "refunded", ("released", "release")),
        ("reserved", "held", ("reserved", None)),
        # Nothing happens twice: released stays released, sold goods come back only
        # through a return, never through a refund.
        ("released", "refunded", ("released", None)),
        ("committed", "refunded", ("committed", None)),
        ("committed", "fulfilled", ("committed", None)),
        ("released", "paid", ("released", None)),
    ],
)
def test_reserved_stock_is_committed_or_released_once(
    state: str, target: str, after: tuple[str, str | None]
) -> None:
    assert stock_after(state, target) == after


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("o", True),
        ("x" * MAX_ORDER_ID_LENGTH, True),
        ("x" * (MAX_ORDER_ID_LENGTH + 1), False),
        ("", False),
        (None, False),
        (12345, False),
    ],
)
def test_an_order_id_is_a_string_of_one_to_a_hundred_characters(
    value: object, expected: bool
) -> None:
    """Support, shipments and the fulfilment queue look up no id that cannot be an order."""
    assert MAX_ORDER_ID_LENGTH == 100
    assert could_be_order_id(value) is expected


def test_new_order_ids_could_be_order_ids() -> None:
    assert could_be_order_id(new_order_id())


def test_a_time_without_a_zone_is_utc_and_a_zone_given_is_kept() -> None:
    """Order times are UTC; an offset someone typed is honoured, never replaced by UTC."""
    assert parse_iso("2026-12-01T10:00:00") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_iso("2026-12-01T10:00:00Z") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_iso("2026-12-01T12:00:00+02:00") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_iso("2026-12-01T12:00:00+02:00").utcoffset() == timedelta(hours=2)


def test_a_stock_state_read_from_storage_moves_like_a_literal_one() -> None:
    """The stored order's stock state is a string built at run time, not the literal."""
    reserved = "".join(["re", "served"])  # not the interned literal "reserved"
    assert stock_after(reserved, "paid") == ("committed", "commit")
    assert stock_after(reserved, "expired") == ("released", "release")
