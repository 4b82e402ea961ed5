"""The invariant checker on plain data: each invariant holds on good data and is
reported, naming the product or order, on data that breaks it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bonestore.adapters.orders import order_from_record
from bonestore.service.invariants import check_invariants

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LAG = timedelta(minutes=10)
pytestmark = pytest.mark.unit
PAID = {"amount_total": {"amount": 1500, "currency": "USD"}, "payment_intent_id": "pi_1"}


def product(**counters: Any) -> dict[str, Any]:
    return {
        "sku": "BOOK-1",
        "kind": "physical",
        **{"stock": 6, "reserved": 2, "sold": 2, "received": 10, **counters},
    }


def order(
    order_id: str, status: str, state: str, quantity: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "status": status,
        "stock_state": state,
        "stock_lines": [{"sku": "BOOK-1", "quantity": quantity}],
        "reservation_expires_at": "2026-12-01T11:55:00.000Z",
        **extra,
    }


GOOD_ORDERS = [
    order("ord_open", "pending_payment", "reserved", 2),
    order("ord_paid", "paid", "committed", 1, **PAID),
    order("ord_shipped", "fulfilled", "committed", 1, **PAID),
    order("ord_gone", "expired", "released", 3),
]


def kinds(
    products: list[dict[str, Any]], orders: list[dict[str, Any]], **kw: Any
) -> list[tuple[str, str]]:
    typed = [order_from_record(record) for record in orders]  # as the adapter reads them
    found = check_invariants(products, typed, now=NOW, reservation_lag=LAG, **kw)
    return [(v.kind, v.subject) for v in found]


def test_consistent_tables_have_no_violation() -> None:
    digital = {"sku": "EBOOK", "kind": "digital"}
    assert kinds([product(), digital], GOOD_ORDERS) == []


@pytest.mark.parametrize(
    ("counters", "expected"),
    [
        ({"reserved": 0, "stock": 8}, [("reserved_mismatch", "product BOOK-1")]),
        ({"received": 11}, [("stock_unbalanced", "product BOOK-1")]),
        (
            {"stock": -1, "received": 3},
            [("negative_counter", "product BOOK-1")],
        ),
        ({"sold": 3, "stock": 5}, [("sold_mismatch", "product BOOK-1")]),
        ({"sold": None}, [("counters_missing", "product BOOK-1")]),
    ],
)
def test_product_counters(counters: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert kinds([product(**counters)], GOOD_ORDERS) == expected


def test_the_lost_reservation_of_issue_11() -> None:
    """A replace that wrote back a stale ``reserved``: the counters no longer match."""
    found = kinds([product(reserved=1, received=9)], GOOD_ORDERS)
    assert ("reserved_mismatch", "product BOOK-1") in found


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        (order("ord_x", "paid", "committed", 0, amount_total={"amount": 1500, "currency": "USD"}), "payment_missing"),
        (order("ord_x", "held", "reserved", 0, amount_total={"amount": 900, "currency": "USD"}), "payment_missing"),
        (order("ord_x", "expired", "reserved", 0), "stock_state_mismatch"),
        (order("ord_x", "paid", "reserved", 0, **PAID), "stock_state_mismatch"),
        (
            order("ord_x", "pending_payment", "reserved", 0,
                  reservation_expires_at="2026-12-01T11:49:59Z"),
            "reservation_overdue",
        ),
        (order("ord_x", "pending_payment", "reserved", 0, reservation_expires_at=None),
         "reservation_overdue"),
        (order("ord_x", "lost", "none", 0), "unknown_status"),
    ],
)  # fmt: skip
def test_order_invariants(bad: dict[str, Any], kind: str) -> None:
    assert kinds([product()], [*GOOD_ORDERS, bad]) == [(kind, "order ord_x")]


def test_what_is_not_a_violation() -> None:
    free = order("ord_free", "paid", "none", 0, amount_total={"amount": 0, "currency": "USD"})
    waiting = order(
        "ord_wait", "pending_payment", "reserved", 0,
        reservation_expires_at="2026-12-01T10:00:00Z", reservation_state="awaiting_payment",
    )  # fmt: skip
    just_late = order(
        "ord_late", "pending_payment", "reserved", 0, reservation_expires_at="2026-12-01T11:50:01Z"
    )
    assert kinds([product()], [*GOOD_ORDERS, free, waiting, just_late]) == []


def test_an_expiry_time_without_a_zone_is_utc() -> None:
    """It used to parse as a naive time, and comparing it with the aware ``now`` raised
    TypeError: one such item stopped the whole check."""
    overdue = order("ord_x", "pending_payment", "reserved", 0,
                    reservation_expires_at="2026-12-01T11:49:59")  # fmt: skip
    in_time = order("ord_y", "pending_payment", "reserved", 0,
                    reservation_expires_at="2026-12-01T11:50:01")  # fmt: skip
    assert kinds([product()], [*GOOD_ORDERS, overdue, in_time]) == [
        ("reservation_overdue", "order ord_x")
    ]


def test_skus_limit_the_check_to_those_products_and_their_orders() -> None:
    other = {**product(received=99), "sku": "OTHER"}
    stray = {
        **order("ord_other", "expired", "reserved"),
        "stock_lines": [{"sku": "OTHER", "quantity": 1}],
    }
    assert kinds([product(), other], [*GOOD_ORDERS, stray], skus=["BOOK-1"]) == []
    assert {kind for kind, subject in kinds([product(), other], [*GOOD_ORDERS, stray])} == {
        "stock_state_mismatch",
        "stock_unbalanced",
        "reserved_mismatch",
        "sold_mismatch",
    }


def test_ingredients_outside_the_vocabulary() -> None:
    pill = {
        "sku": "PILL", "kind": "digital",
        "attributes": {"ingredients": {"Melatonin": {}, "melatonine": {}}},
    }  # fmt: skip
    found = check_invariants(
        [pill], [], now=NOW, reservation_lag=LAG, vocabulary=["melatonin", "calcium"]
    )
    assert [(v.kind, v.subject) for v in found] == [("unknown_ingredient", "product PILL")]
    assert "'melatonine'" in found[0].message and "Melatonin" not in found[0].message


def test_the_cli_default_lag_is_the_sweepers() -> None:
    from bonestore.service.reservations import GRACE_SECONDS
    from bonestore_infra.check_cli import SWEEPER_PERIOD_SECONDS, default_reservation_lag

    rate = re.search(
        r"Schedule: rate\((\d+) minutes\)",
        (Path(__file__).resolve().parents[2] / "template.yaml").read_text(),
    )
    assert rate and 60 * int(rate[1]) == SWEEPER_PERIOD_SECONDS
    assert default_reservation_lag() == GRACE_SECONDS + SWEEPER_PERIOD_SECONDS


def test_the_cli_needs_table_names_and_credentials_for_aws(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bonestore_infra.cli import main

    assert main(["check", "invariants", "--region", "eu-west-1"]) == 2
    assert "--products-table" in capsys.readouterr().err
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    args = [
        "check",
        "invariants",
        "--region",
        "eu-west-1",
        "--products-table",
        "P",
        "--orders-table",
        "O",
    ]
    assert main(args) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_the_cli_says_when_the_local_stack_is_not_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bonestore_infra.cli import main
    from bonestore_infra.local_aws import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["check", "invariants", "--endpoint-url", url, "--once"]) == 2
    assert "bonestore serve" in capsys.readouterr().err
