"""The staff user pool in template.yaml is one the console and CLI can really sign in to."""

from __future__ import annotations

import json

import pytest

from bonestore_infra.local_aws import IntrinsicResolver
from bonestore_infra.local_cognito import pool_groups
from bonestore_infra.template import Template

pytestmark = pytest.mark.unit

TEMPLATE = Template()


def _props(logical_id: str) -> dict[str, object]:
    props: dict[str, object] = TEMPLATE.resources[logical_id]["Properties"]
    return props


def test_the_console_client_allows_the_flow_the_console_and_cli_use() -> None:
    flows = _props("UserPoolClient")["ExplicitAuthFlows"]
    assert isinstance(flows, list)
    assert "ALLOW_USER_PASSWORD_AUTH" in flows
    assert _props("UserPoolClient")["GenerateSecret"] is False  # a browser cannot keep one


def test_the_pool_has_the_groups_the_routes_name() -> None:
    assert set(pool_groups(IntrinsicResolver(TEMPLATE))) == {"support", "ops", "warehouse"}


def test_usernames_not_emails_so_the_audit_trail_names_people() -> None:
    """With email *as* the username, Cognito's cognito:username is the sub (a UUID)."""
    pool = _props("UserPool")
    assert "UsernameAttributes" not in pool
    assert pool["AliasAttributes"] == ["email"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_console_config_output_is_the_json_the_console_reads(stage: str) -> None:
    resolver = IntrinsicResolver(
        TEMPLATE, {"Stage": stage, "UserPool": "eu-west-1_abc", "UserPoolClient": "client123"}
    )
    value = resolver.resolve(TEMPLATE.doc["Outputs"]["ConsoleConfig"]["Value"])
    assert json.loads(value) == {
        "region": "us-east-1",
        "userPoolId": "eu-west-1_abc",
        "clientId": "client123",
    }
