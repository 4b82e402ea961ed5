"""AWS clients come from one botocore session, and the adapters never import boto3
(``bonestore/adapters/aws.py``: ~13 ms of every cold start)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bonestore.adapters import aws


def test_the_adapters_make_their_clients_without_importing_boto3() -> None:
    script = """
import sys
from bonestore.adapters.dynamo import dynamodb_client, from_item, to_item
from bonestore.adapters.email import SesEmailSender
from bonestore.adapters.events import events_client
from bonestore.adapters import invariants, limits, orders, products
from bonestore.api import deps
dynamodb_client(); events_client()
from_item(to_item({"n": 1, "s": "x", "m": {"l": [True, None]}}))
print(sorted(m for m in sys.modules if m == "boto3" or m.startswith("boto3.")))
"""
    env = {"AWS_DEFAULT_REGION": "us-east-1", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[]"


def test_clients_share_one_session_and_its_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws._session.cache_clear()
    try:
        first, second = aws.aws_client("dynamodb"), aws.aws_client("events")
        assert first.meta.region_name == second.meta.region_name == "eu-west-1"
        assert aws._session() is aws._session()
    finally:
        aws._session.cache_clear()
