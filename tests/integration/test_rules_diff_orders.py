"""`bonestore rules diff --local / --orders-table`: reaching the orders to replay, or saying why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bonestore.domain.rules.loader import read_ruleset_text
from bonestore_infra.cli import main
from bonestore_infra.serve_state import write_state
from tests.integration.test_support_api import store_order

pytestmark = pytest.mark.integration

DEFAULT_TEXT = read_ruleset_text()[0]
AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)


@pytest.fixture
def rulesets(tmp_path: Path) -> tuple[str, str]:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(DEFAULT_TEXT)
    new.write_text(DEFAULT_TEXT.replace("countries: [MX, IN]", "countries: [MX]"))
    return str(old), str(new)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell with no AWS variables, config or credentials at all."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("BONESTORE_HOME", str(tmp_path / "home"))


def _advertise(local_stack: Any) -> None:
    """What `bonestore serve` writes once it is up (tests/integration/test_serve_cli.py)."""
    write_state(local_stack.running())


def test_local_replays_the_running_stacks_orders_with_no_aws_variables(
    local_stack: Any,
    rulesets: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    order = store_order([("TRUEOSTEO-120", 1)], {"country": "IN"})
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BONESTORE_HOME", str(tmp_path / "home"))
    _advertise(local_stack)
    code = main(["rules", "diff", *rulesets, "--local"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"in the local stack ({local_stack.aws.endpoint_url})" in out
    assert order["order_id"] in out
    assert "recent order(s) decided differently" in out


def test_local_without_a_running_stack_says_so(
    no_aws: None, rulesets: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rules", "diff", *rulesets, "--local"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no running `bonestore serve` found" in err and "Traceback" not in err


def test_no_aws_credentials_is_one_clear_line(
    no_aws: None, rulesets: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rules", "diff", *rulesets, "--orders-table", "bonestore-prod-orders"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no AWS credentials found for --orders-table" in err and "--local" in err
    assert "botocore" not in err


def test_a_missing_table_is_named(
    local_stack: Any, rulesets: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "rules",
            "diff",
            *rulesets,
            "--orders-table",
            "no-such-table",
            "--endpoint-url",
            local_stack.aws.endpoint_url,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "there is no table 'no-such-table'" in err and "OrdersTableName" in err
