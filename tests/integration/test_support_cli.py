"""``bonestore support order|orders|check`` against the local server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from bonestore_infra.cli import main
from tests.integration.test_support_api import BEFORE_NPN, staff_token, store_order

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(local_stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("BONESTORE_API_URL", local_stack.api_url)
    monkeypatch.setenv("BONESTORE_TOKEN", staff_token("support"))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["support", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_order_shows_lines_eligibility_and_what_changed(cli: Any) -> None:
    order = store_order([("TRUEOSTEO-120", 1)], {"country": "CA"}, decided_at=BEFORE_NPN)
    code, out, err = cli("order", order["order_id"])
    assert code == 0, err
    assert order["order_id"] in out
    assert "paid" in out
    assert "TRUEOSTEO-120" in out
    assert "49.95 USD" in out
    for when in ("at checkout", "at payment", "now"):
        assert when in out
    assert "Now differs from at payment" in out
    assert "ca-no-supplements-npn" in out
    assert "checkout.session.completed" in out


def test_order_json_is_the_api_body(cli: Any) -> None:
    order = store_order([("ORP-EBOOK", 1)], {"country": "US"})
    code, out, _ = cli("order", order["order_id"], "--json")
    assert code == 0
    assert json.loads(out)["order_id"] == order["order_id"]


def test_unknown_order_exits_1_with_the_contract_message(cli: Any) -> None:
    code, out, err = cli("order", "ord_missing")
    assert code == 1
    assert out == ""
    assert "404 order_not_found: No order with id 'ord_missing'." in err


def test_orders_by_email(cli: Any) -> None:
    email = "Cli.Customer.7@Example.com"
    first = store_order([("ORP-EBOOK", 1)], {"country": "US"}, email=email)
    second = store_order([("BONE-APPETIT-BOOK", 2)], {"country": "US"}, email=email)
    code, out, err = cli("orders", "--email", email.lower())
    assert code == 0, err
    assert out.index(second["order_id"]) < out.index(first["order_id"])  # newest first
    code, out, _ = cli("orders", "--email", "nobody-at-all@example.com")
    assert code == 0 and "No orders for nobody-at-all@example.com" in out
    code, _, err = cli("orders", "--email", "not-an-email")
    assert code == 1 and "400 invalid_email" in err
    assert "'not-an-email' is not an email address" in err and "pattern" not in err


def test_check_shows_the_reasons_and_the_rules_considered(cli: Any) -> None:
    code, out, err = cli("check", "--country", "ca", "--sku", "TRUEOSTEO-120", "--qty", "2")
    assert code == 0, err
    assert "NOT ELIGIBLE" in out
    assert "ca-no-supplements-npn" in out
    # What backs the reason, as the contract has every reason shown to staff carry it.
    assert "source: Health Canada" in out and "note: Books, DVDs and programs" in out
    assert "Rules considered for TRUEOSTEO-120" in out
    assert "zone-international-physical" in out

    code, out, _ = cli(
        "check", "--country", "us", "--subdivision", "ny", "--postal-code", "10001",
        "--sku", "DENSERCISE-DVD",
    )  # fmt: skip
    assert code == 0 and "ELIGIBLE" in out and "NOT ELIGIBLE" not in out
    assert "standard" in out


@pytest.mark.parametrize("at", ["2013-01-15", "2013-01-15T09:00:00", "2013-01-15T09:00:00Z"])
def test_check_at_takes_the_date_its_help_shows(cli: Any, at: str) -> None:
    """`--at 2027-01-01` (the help's own example): its midnight, UTC. Before the NPN rule
    (2013-06-01) a supplement ships to Canada."""
    code, out, err = cli("check", "--country", "ca", "--sku", "TRUEOSTEO-120", "--at", at)
    assert code == 0, err
    assert "NOT ELIGIBLE" not in out and "ELIGIBLE" in out


def test_check_bad_input_exits_1_in_plain_words(cli: Any) -> None:
    code, _, err = cli("check", "--country", "ZZ", "--sku", "ORP-EBOOK")
    assert code == 1 and "400 invalid_country" in err
    assert "'ZZ' is not a country we know; use its two-letter code, like US, CA or GB" in err
    assert "ISO" not in err
    code, _, err = cli("check", "--country", "US", "--subdivision", "XX", "--sku", "ORP-EBOOK")
    assert code == 1 and "'XX' is not a state, province or region" in err
    code, _, err = cli("check", "--country", "US", "--sku", "ORP-EBOOK", "--at", "yesterday")
    assert code == 1 and "write it like 2027-01-01" in err and "Input should" not in err
    code, _, err = cli("check", "--country", "US", "--sku", "NOPE-1")
    assert code == 1 and "400 unknown_sku" in err


def test_a_quantity_that_is_not_a_count_is_refused_before_asking(cli: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("check", "--country", "US", "--sku", "ORP-EBOOK", "--qty", "0")
    assert exited.value.code == 2


def test_check_takes_a_full_address_so_a_po_box_counts(cli: Any) -> None:
    street = ("--line1", "1 Main St", "--city", "New York")
    po_box = ("--line1", "PO Box 12", "--city", "New York")
    place = ("--country", "US", "--subdivision", "NY", "--postal-code", "10001")
    code, out, err = cli("check", *place, *street, "--sku", "DENSERCISE-DVD", "--json")
    assert code == 0, err
    assert {m["id"] for m in json.loads(out)["shipping_methods"]} >= {"standard", "express"}
    code, out, err = cli("check", *place, *po_box, "--sku", "DENSERCISE-DVD", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["destination"]["line1"] == "PO Box 12"
    assert "express" not in {m["id"] for m in body["shipping_methods"]}
    code, out, _ = cli("check", *place, *po_box, "--sku", "DENSERCISE-DVD")
    assert "PO Box 12 New York US-NY 10001 US" in out
    # Why express is missing, in the rule's own words.
    (withdrawn,) = body["unavailable_shipping_methods"]
    assert withdrawn["id"] == "express"
    assert "Not available: express" in out
    reason = withdrawn["reasons"][0]
    assert f"{reason['rule_id']} ({reason['code']}): {reason['message']}" in " ".join(out.split())


def test_the_cli_says_which_api_answered(cli: Any, local_stack: Any) -> None:
    code, _, err = cli("check", "--country", "US", "--sku", "ORP-EBOOK")
    assert code == 0
    assert f"API {local_stack.api_url}" in err


def test_staff_sign_in_with_username_and_password(
    cli: Any, local_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the stack's own pool, found through the console config it serves."""
    monkeypatch.delenv("BONESTORE_TOKEN")
    support = next(u for u in local_stack.staff_users if u.username == "support")
    code, out, err = cli(
        "check", "--country", "AU", "--sku", "TRUEOSTEO-120",
        "--username", "support", f"--password={support.password}",
    )  # fmt: skip
    assert code == 0, err
    assert "au-three-months-supply" in out
    monkeypatch.setenv("BONESTORE_USERNAME", "warehouse")
    warehouse = next(u for u in local_stack.staff_users if u.username == "warehouse")
    monkeypatch.setenv("BONESTORE_PASSWORD", warehouse.password)
    code, _, err = cli("order", "ord_x")
    assert code == 1 and "403 forbidden" in err and "your staff group may not do this" in err
    code, _, err = cli("order", "ord_x", "--username", "support", "--password", "Wrong-pass-1")
    assert code == 1 and "sign-in refused: wrong username or password for support" in err


def test_token_problems_are_explained(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BONESTORE_TOKEN")
    code, _, err = cli("order", "ord_x")
    assert code == 2 and "not signed in" in err and "--username" in err
    code, _, err = cli("order", "ord_x", "--token", staff_token("support", expires_in=-5))
    assert code == 1 and "401 unauthorized" in err and "expired" in err
    code, _, err = cli("order", "ord_x", "--token", staff_token(None))
    assert code == 1 and "403 forbidden" in err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_says_so(cli: Any) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, _, err = cli("order", "ord_x", "--api-url", url)
    assert code == 1
    assert f"cannot reach the bonestore API at {url}: connection refused" in err


def test_the_installed_command_runs(local_stack: Any) -> None:
    bonestore = os.path.join(os.path.dirname(sys.executable), "bonestore")
    env = {
        **os.environ,
        "BONESTORE_API_URL": local_stack.api_url,
        "BONESTORE_TOKEN": staff_token("support"),
    }
    result = subprocess.run(
        [bonestore, "support", "check", "--country", "AU", "--sku", "TRUEOSTEO-120", "--qty", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "au-three-months-supply" in result.stdout


def test_held_release_and_refund_from_the_cli(cli: Any, local_stack: Any) -> None:
    from bonestore_infra.bench_checkout import Shop
    from tests.integration.test_support_resolutions import held_order

    order_id = held_order(Shop(local_stack))
    code, out, err = cli("held", "--limit", "100")
    assert code == 0, err
    assert "Held orders" in out
    # The order says why it is held: the rule, its customer message and its citation,
    # the billing country, and the billing refusal in the eligibility table.
    code, out, err = cli("order", order_id)
    assert code == 0, err
    assert "Why it is held" in out and "embargo-cuba" in out and "31 CFR part 515" in out
    assert "Billing country" in out and "CU" in out
    assert "billing CU" in out
    code, out, err = cli("release", order_id, "--reason", "customer asked")
    assert code == 1
    assert "409 still_not_shippable" in err and "embargo-cuba" in err
    code, out, err = cli("refund", order_id, "--reason", "embargoed")
    assert code == 0, err
    assert "refunded" in out
    code, out, err = cli("refund", order_id, "--reason", "   ")
    assert code == 2 and "--reason" in err
