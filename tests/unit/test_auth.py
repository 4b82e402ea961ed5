import json
import logging

import pytest

from bonestore.api.audit import ORDER_SEARCH, audit_record, log_order_access
from bonestore.api.auth import (
    READ_GROUPS,
    WRITE_GROUPS,
    Principal,
    authorize_event,
    parse_groups,
    principal_from_claims,
    require_group,
)
from bonestore.domain.errors import Forbidden, Unauthorized

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # As API Gateway's REST Cognito authorizer delivers them: names joined by commas.
        ("support", {"support"}),
        ("support,ops", {"support", "ops"}),
        ("ops,support,warehouse", {"ops", "support", "warehouse"}),
        # The token's own list (a handler invoked with decoded claims): name by name.
        (["support"], {"support"}),
        (["support", "ops"], {"support", "ops"}),
        ("", set()),
        (None, set()),
    ],
)
def test_parse_groups_reads_the_gateway_format(raw, expected):
    assert parse_groups(raw) == frozenset(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "customer,ops",  # may be ONE group named "customer,ops": fail closed
        "[ops]",
        "x ops",
        " ops",
        "ops ",
        "OPS",
        "[support ops]",
        '["ops"]',
        "ops,",
        ",ops",
        "ops,,support",
        ["customer,ops"],
        ["[ops]"],
        ["x ops"],
        [" ops"],
        123,
        {"ops": True},
    ],
)
def test_no_substring_or_lookalike_grants_ops(raw):
    groups = parse_groups(raw)
    assert "ops" not in groups
    principal = Principal("mallory", None, groups)
    with pytest.raises(Forbidden):
        require_group(principal, WRITE_GROUPS)


def gateway_claims(groups="support"):
    return {
        "sub": "0b6f",
        "cognito:groups": groups,
        "cognito:username": "alice",
        "email": "alice@staff.example",
        "token_use": "id",
        "exp": "Tue Nov 24 20:00:00 UTC 2026",
    }


def test_principal_from_gateway_claims():
    principal = principal_from_claims(gateway_claims("support,ops"))
    assert principal == Principal(
        "alice", "alice@staff.example", frozenset({"support", "ops"}), "0b6f"
    )


def test_principal_falls_back_to_sub_for_username():
    claims = gateway_claims()
    del claims["cognito:username"]
    assert principal_from_claims(claims).username == "0b6f"


@pytest.mark.parametrize("claims", [None, {}])
def test_no_claims_no_principal(claims):
    assert principal_from_claims(claims) is None


def test_require_group_401_without_principal():
    with pytest.raises(Unauthorized) as exc:
        require_group(None, READ_GROUPS)
    assert exc.value.status == 401
    assert exc.value.code == "unauthorized"


def test_require_group_403_for_another_group():
    customer = principal_from_claims(gateway_claims("customer"))
    with pytest.raises(Forbidden) as exc:
        require_group(customer, READ_GROUPS)
    assert (exc.value.status, exc.value.code) == (403, "forbidden")


def test_support_reads_but_does_not_write():
    support = principal_from_claims(gateway_claims("support"))
    assert require_group(support, READ_GROUPS) is support
    with pytest.raises(Forbidden):
        require_group(support, WRITE_GROUPS)


def test_ops_reads_and_writes():
    ops = principal_from_claims(gateway_claims("ops"))
    assert require_group(ops, READ_GROUPS) is ops
    assert require_group(ops, WRITE_GROUPS) is ops


def event(method, resource, claims):
    context = {"requestId": "r1"}
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "httpMethod": method,
        "resource": resource,
        "path": resource,
        "headers": {},
        "requestContext": context,
    }


POLICY = {("GET", "/things"): READ_GROUPS, ("PUT", "/things"): WRITE_GROUPS}


def test_authorize_event_uses_the_route_policy():
    assert (
        authorize_event(event("GET", "/things", gateway_claims("support")), POLICY).username
        == "alice"
    )
    with pytest.raises(Forbidden):
        authorize_event(event("PUT", "/things", gateway_claims("support")), POLICY)
    with pytest.raises(Unauthorized):
        authorize_event(event("GET", "/things", None), POLICY)


def test_unlisted_route_needs_ops():
    with pytest.raises(Forbidden):
        authorize_event(event("GET", "/other", gateway_claims("support")), POLICY)
    assert authorize_event(event("GET", "/other", gateway_claims("ops")), POLICY)


def test_rejection_is_the_contract_error_body():
    from bonestore.api.lite_http import LiteRouter

    response = LiteRouter(policy=POLICY).resolve(event("GET", "/other", None))
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthorized"


def test_audit_line_names_staff_and_masks_customer_email(caplog):
    staff = principal_from_claims(gateway_claims("support"))
    with caplog.at_level(logging.INFO, logger="bonestore.audit"):
        record = log_order_access(
            staff, ORDER_SEARCH, ["ord_1", "ord_2"], query_email="jane.doe@example.com"
        )
    assert record["actor"] == {"username": "alice", "subject": "0b6f", "groups": ["support"]}
    assert record["order_ids"] == ["ord_1", "ord_2"]
    assert record["query"] == {"email": "j***@e***.com"}
    [logged] = [r for r in caplog.records if r.name == "bonestore.audit"]
    assert logged.audit is True
    assert logged.action == ORDER_SEARCH
    assert "jane.doe" not in logged.getMessage()
    assert "jane.doe" not in json.dumps(record)


def test_audit_record_is_pure():
    staff = Principal("bob", None, frozenset({"ops"}))
    record = audit_record(
        staff, "support.order.read", ["ord_9"], outcome="not_found", request_id="r"
    )
    assert record["outcome"] == "not_found"
    assert record["request_id"] == "r"
    assert "query" not in record
