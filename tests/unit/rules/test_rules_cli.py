from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bonestore.domain.catalog import seed_catalog
from bonestore.domain.rules.loader import read_ruleset_text
from bonestore_infra.cli import main

pytestmark = pytest.mark.unit

DEFAULT_TEXT = read_ruleset_text()[0]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lint_default_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "lint")
    assert code == 0
    assert "0 error(s)" in out


def test_lint_file_with_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_TEXT.replace("[RU, BY]", "[RU, BY, XX]"))
    code, out, _ = run(capsys, "rules", "lint", str(bad))
    assert code == 1
    assert f"{bad}:" in out and "'XX' is not an ISO 3166-1 alpha-2 country" in out


def test_lint_strict_fails_only_on_warnings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "rules", "lint", "--strict")[0] == 0  # the default is clean
    warned = tmp_path / "warned.yaml"
    # Boron (in TrueOsteo) left out of the vocabulary: a warning, not an error.
    warned.write_text(DEFAULT_TEXT.replace("[boron, calcium,", "[calcium,"))
    assert run(capsys, "rules", "lint", str(warned))[0] == 0
    code, out, _ = run(capsys, "rules", "lint", "--strict", str(warned))
    assert code == 1 and "product TRUEOSTEO-120: ingredient 'boron'" in out


def test_lint_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "rules", "lint", str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read" in err


def test_check_canada(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "check", "--country", "CA", "--sku", "TRUEOSTEO-120")
    assert code == 1
    assert "ca-no-supplements-npn" in out and "not eligible" in out


def test_check_before_2013(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "rules", "check", "--country", "ca", "--sku", "TRUEOSTEO-120", "--at", "2013-05-31"
    )
    assert code == 0 and "eligible" in out and "2013-05-31T00:00:00Z" in out


def test_check_json_with_quantity_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "rules", "check", "--country", "AU", "--sku", "TRUEOSTEO-120", "--qty", "4",
        "--json", "--trace", "--at", "2026-01-31T00:00:00Z",
    )  # fmt: skip
    body = json.loads(out)
    assert code == 1
    assert body["items"][0]["max_quantity"] == 3
    assert body["items"][0]["reasons"][0]["rule_id"] == "au-three-months-supply"
    assert any(step["rule_id"] == "au-three-months-supply" for step in body["items"][0]["trace"])


def test_check_po_box_and_subdivision(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "rules", "check", "--country", "US", "--subdivision", "HI", "--postal-code",
        "96813", "--line1", "PO Box 5", "--sku", "DENSERCISE-DVD", "--trace",
    )  # fmt: skip
    assert code == 0
    assert (
        "standard 5.95 USD" in out
        and "express" not in out.split("shipping methods:")[1].split("\n")[0]
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--country", "XX", "--sku", "ORP-EBOOK"], "invalid_country"),
        (["--country", "US", "--sku", "NOPE"], "unknown SKU"),
        (["--country", "US", "--sku", "ORP-EBOOK", "--qty", "0"], "--qty"),
        (["--country", "US", "--postal-code", "1", "--sku", "ORP-EBOOK"], "invalid_postal_code"),
    ],
)
def test_check_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, "rules", "check", *argv)
    assert code == 2 and needle in err


def test_check_with_another_ruleset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(DEFAULT_TEXT.replace("countries: [MX, IN]", "countries: [MX]"))
    code, _, _ = run(
        capsys,
        "rules",
        "check",
        "--country",
        "IN",
        "--sku",
        "TRUEOSTEO-120",
        "--ruleset",
        str(other),
    )
    assert code == 0


def test_diff_without_orders(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(DEFAULT_TEXT)
    new.write_text(DEFAULT_TEXT.replace("countries: [MX, IN]", "countries: [MX]"))
    code, out, _ = run(capsys, "rules", "diff", str(old), str(new))
    assert code == 0
    assert "3 decision(s) flip" in out
    assert "mx-in-no-supplements" in out and "IN" in out
    code, out, _ = run(capsys, "rules", "diff", str(old), str(old))
    assert "no product/destination decision changes" in out


def test_diff_bad_ruleset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [")
    code, _, err = run(capsys, "rules", "diff", str(bad), str(bad))
    assert code == 2 and "cannot load ruleset" in err


def _put_order(client: Any, table: str, order_id: str, sku: str, qty: int, country: str) -> None:
    from boto3.dynamodb.types import TypeSerializer

    product = next(p for p in seed_catalog() if p.sku == sku).model_dump(mode="json")
    item = {
        "order_id": order_id,
        "status": "paid",
        "created_at": "2099-01-01T00:00:00Z",  # recent whatever today is
        "items": [{"sku": sku, "quantity": qty, "product": product}],
        "destination": {"country": country},
    }
    serializer = TypeSerializer()
    plain = json.loads(json.dumps(item), parse_float=Decimal)
    client.put_item(TableName=table, Item={k: serializer.serialize(v) for k, v in plain.items()})


def test_diff_with_orders_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in AWS: credentials and region from the environment, no --endpoint-url (boto3's
    AWS_ENDPOINT_URL_DYNAMODB stands in for DynamoDB). A moto server of its own, never
    ``mock_aws()``: moto's backends are per process, and mock_aws resets them when it
    starts and stops, wiping the tables and secrets of a local stack running in the same
    test process (its checkouts then answered 503 payment_provider_unavailable)."""
    import uuid

    import boto3

    from bonestore_infra.local_aws import start_local_aws

    aws = start_local_aws()
    table = f"Orders-{uuid.uuid4().hex[:8]}"
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": aws.endpoint_url,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(DEFAULT_TEXT)
    new.write_text(DEFAULT_TEXT.replace("countries: [MX, IN]", "countries: [MX]"))
    client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url)
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        _put_order(client, table, "ord-in", "TRUEOSTEO-120", 1, "IN")
        _put_order(client, table, "ord-us", "TRUEOSTEO-120", 1, "US")
        # A stored item the repository's translation cannot read (a line without quantity).
        client.put_item(
            TableName=table,
            Item={
                "order_id": {"S": "ord-broken"},
                "status": {"S": "paid"},
                "created_at": {"S": "2099-01-01T00:00:00Z"},
                "items": {"L": [{"M": {"sku": {"S": "TRUEOSTEO-120"}}}]},
                "destination": {"M": {"country": {"S": "IN"}}},
            },
        )
        code, out, _ = run(capsys, "rules", "diff", str(old), str(new), "--orders-table", table)
    finally:
        client.delete_table(TableName=table)
        aws.stop()
    assert code == 0
    assert "2 of 3 recent order(s) decided differently" in out
    assert "ord-in" in out and "ord-us" not in out
    assert "ord-broken" in out and "unreadable: KeyError: 'quantity'" in out


def test_check_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="--at: not an ISO-8601 time"):
        main(["rules", "check", "--country", "US", "--sku", "ORP-EBOOK", "--at", "yesterday"])


JP_MELATONIN_2027 = """
  - id: jp-no-melatonin
    effect: forbid
    when:
      destination: {countries: [JP]}
      product:
        ingredients:
          - {any_of: [melatonin]}
    effective_from: 2027-01-01
    code: not_permitted_ingredient
    message: We can't ship products containing melatonin to Japan.
    source: test
"""


def test_diff_reports_a_future_flip_and_its_date_without_at(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 13's acceptance: "no melatonin to Japan from 2027-01-01", diffed without --at,
    reports the flip and its date (before, a reviewer saw "no changes")."""
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(DEFAULT_TEXT)
    new.write_text(DEFAULT_TEXT.replace("\nrules:\n", "\nrules:\n" + JP_MELATONIN_2027, 1))
    code, out, _ = run(
        capsys, "rules", "diff", str(old), str(new), "--from", "2026-12-01", "--window-days", "365"
    )
    assert code == 0
    assert "1 decision(s) flip" in out
    row = next(line for line in out.splitlines() if "RESTWELL-60" in line)
    assert "JP" in row and "from 2027-01-01 00:00" in row and "jp-no-melatonin" in row
    # Looking at one instant before it, as --at asks, sees nothing.
    code, out, _ = run(capsys, "rules", "diff", str(old), str(new), "--at", "2026-12-31T23:59:59Z")
    assert "no product/destination decision changes" in out


def test_diff_says_until_when_a_flip_ends(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(DEFAULT_TEXT)
    windowed = JP_MELATONIN_2027.replace(
        "effective_from: 2027-01-01", "effective_from: 2027-01-01\n    effective_until: 2027-03-01"
    )
    new.write_text(DEFAULT_TEXT.replace("\nrules:\n", "\nrules:\n" + windowed, 1))
    code, out, _ = run(
        capsys, "rules", "diff", str(old), str(new), "--from", "2026-12-01", "--window-days", "365"
    )
    assert code == 0
    row = next(line for line in out.splitlines() if "RESTWELL-60" in line)
    assert "from 2027-01-01 00:00 until 2027-03-01 00:00" in row


def test_lint_fails_on_a_misspelt_sku_without_strict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 13: a misspelt SKU in a forbid would let that product through; it is an error
    (check L106), not a warning only --strict fails on."""
    bad = tmp_path / "r.yaml"
    bad.write_text(
        DEFAULT_TEXT.replace(
            "\nrules:\n",
            "\nrules:\n  - id: no-restwell-jp\n    effect: forbid\n    when:\n"
            "      product: {skus: [RESTWEL-60]}\n    code: x_y\n    message: m\n"
            "    source: s\n",
            1,
        )
    )
    code, out, _ = run(capsys, "rules", "lint", str(bad))
    assert code == 1
    assert "error L106 [no-restwell-jp]: SKU 'RESTWEL-60' is not in the seed catalog" in out
