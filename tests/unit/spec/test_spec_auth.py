"""Staff groups, as the contract states them.

api-contract: support routes need a bearer token of group `support` or `ops` ("401
without a valid token, 403 for another group"); ops routes need `ops`; shipments take
`ops` or `warehouse`. Issue 5: a route not in the policy needs `ops` (default deny to the
least privileged). Cognito's `cognito:groups` claim arrives in several shapes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bonestore.api.auth import (
    READ_GROUPS,
    WRITE_GROUPS,
    Principal,
    authorize_event,
    claims_of,
    parse_groups,
    principal_from_claims,
    require_group,
)
from bonestore.domain.errors import Forbidden, Unauthorized

pytestmark = pytest.mark.unit

SUPPORT_ROUTE = ("GET", "/support/orders/{order_id}")
SHIPMENT_ROUTE = ("POST", "/admin/orders/{order_id}/shipments")
POLICY = {
    SUPPORT_ROUTE: READ_GROUPS,
    SHIPMENT_ROUTE: frozenset({"ops", "warehouse"}),
    ("PUT", "/admin/products/{sku}"): WRITE_GROUPS,
}


def event(method: str, resource: str, claims: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {"httpMethod": method, "resource": resource, "requestContext": context}


def staff(groups: str) -> dict[str, Any]:
    return {"sub": "u-1", "cognito:username": "ada", "cognito:groups": groups}


def test_support_and_ops_read_and_only_ops_writes() -> None:
    assert frozenset({"support", "ops"}) == READ_GROUPS
    assert frozenset({"ops"}) == WRITE_GROUPS


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        # API Gateway's Cognito authorizer joins the token's groups with commas.
        ("ops", {"ops"}),
        ("support,ops", {"support", "ops"}),
        ("ops,warehouse,support", {"ops", "warehouse", "support"}),
        # A name is exact: never trimmed, unbracketed or unquoted.
        (" ops", {" ops"}),
        ("[ops]", {"[ops]"}),
        ('"ops"', {'"ops"'}),
        ("x ops", {"x ops"}),
        # Cognito allows commas in a name: unknown parts mean it is one name, and it
        # grants nothing this API knows (fail closed).
        ("customer,ops", set()),
        ("ops,", set()),
        (",", set()),
        # A real list (the token's own claims) is taken name by name.
        (["support", "ops"], {"support", "ops"}),
        (("ops", ""), {"ops"}),
        ({"warehouse"}, {"warehouse"}),
        (frozenset({"ops"}), {"ops"}),
        (["ops", 1, None], {"ops"}),
        # Nothing, or not text.
        ("", set()),
        (None, set()),
        (7, set()),
        ({"ops": True}, set()),
    ],
)
def test_the_groups_claim_is_read_as_exact_names(raw: Any, groups: set[str]) -> None:
    assert parse_groups(raw) == frozenset(groups)


@pytest.mark.parametrize("raw", ["customer,ops", " ops", "[ops]", "x,ops,support"])
def test_no_substring_of_another_name_grants_a_staff_group(raw: str) -> None:
    assert parse_groups(raw).isdisjoint({"ops", "support", "warehouse"})


def test_the_username_is_cognitos_then_username_then_subject_then_email() -> None:
    full = {"cognito:username": "ada", "username": "u", "sub": "s", "email": "e@x.co"}
    assert principal_from_claims(full) == Principal(
        username="ada", email="e@x.co", groups=frozenset(), subject="s"
    )
    assert principal_from_claims({"username": "u", "sub": "s"}).username == "u"  # type: ignore[union-attr]
    assert principal_from_claims({"sub": "s"}).username == "s"  # type: ignore[union-attr]
    only_email = principal_from_claims({"email": "e@x.co"})
    assert only_email == Principal(username="e@x.co", email="e@x.co", groups=frozenset())


@pytest.mark.parametrize("claims", [None, {}, {"cognito:groups": "ops"}, {"email": ""}])
def test_claims_that_name_nobody_are_no_principal(claims: dict[str, Any] | None) -> None:
    assert principal_from_claims(claims) is None


def test_a_principal_carries_its_groups_and_values_as_strings() -> None:
    principal = principal_from_claims({"sub": 7, "cognito:groups": "ops,support", "email": None})
    assert principal == Principal(
        username="7", email=None, groups=frozenset({"ops", "support"}), subject="7"
    )


def test_in_any_is_membership_of_at_least_one_group() -> None:
    principal = Principal(username="a", email=None, groups=frozenset({"support"}))
    assert principal.in_any({"support", "ops"})
    assert principal.in_any(["support"])
    assert not principal.in_any({"ops"})
    assert not principal.in_any(set())


@pytest.mark.parametrize(
    "raw_event",
    [
        {},
        {"requestContext": None},
        {"requestContext": "x"},
        {"requestContext": {}},
        {"requestContext": {"authorizer": "x"}},
        {"requestContext": {"authorizer": {}}},
        {"requestContext": {"authorizer": {"claims": "sub=x"}}},
    ],
)
def test_an_event_without_authorizer_claims_has_none(raw_event: dict[str, Any]) -> None:
    assert claims_of(raw_event) is None


def test_claims_are_read_from_the_authorizer() -> None:
    claims = {"sub": "x"}
    assert claims_of({"requestContext": {"authorizer": {"claims": claims}}}) == claims


def test_no_principal_is_401_unauthorized() -> None:
    with pytest.raises(Unauthorized) as info:
        require_group(None, READ_GROUPS)
    assert info.value.status == 401
    assert info.value.code == "unauthorized"
    assert info.value.message == "A valid bearer token is required."


def test_a_principal_of_another_group_is_403_forbidden_naming_the_groups() -> None:
    customer = Principal(username="c", email=None, groups=frozenset({"customer"}))
    with pytest.raises(Forbidden) as info:
        require_group(customer, ["support", "ops"])
    assert info.value.status == 403
    assert info.value.code == "forbidden"
    assert info.value.message == "This needs a token of group ops or support."
    nobody = Principal(username="n", email=None, groups=frozenset())
    with pytest.raises(Forbidden):
        require_group(nobody, ["ops"])


def test_a_principal_in_an_allowed_group_passes_through() -> None:
    ops = Principal(username="o", email=None, groups=frozenset({"ops", "x"}))
    assert require_group(ops, iter(["ops"])) is ops


@pytest.mark.parametrize(
    ("route", "groups", "allowed"),
    [
        (SUPPORT_ROUTE, "support", True),
        (SUPPORT_ROUTE, "ops", True),
        (SUPPORT_ROUTE, "warehouse", False),
        (SUPPORT_ROUTE, "customer", False),
        (SHIPMENT_ROUTE, "warehouse", True),
        (SHIPMENT_ROUTE, "ops", True),
        (SHIPMENT_ROUTE, "support", False),
        (("PUT", "/admin/products/{sku}"), "ops", True),
        (("PUT", "/admin/products/{sku}"), "support", False),
        (("DELETE", "/admin/unlisted"), "ops", True),
        (("DELETE", "/admin/unlisted"), "support", False),
        (("DELETE", "/admin/unlisted"), "warehouse", False),
    ],
)
def test_each_route_admits_exactly_its_groups(
    route: tuple[str, str], groups: str, allowed: bool
) -> None:
    raw = event(route[0].lower(), route[1], staff(groups))
    if allowed:
        assert authorize_event(raw, POLICY).username == "ada"
    else:
        with pytest.raises(Forbidden):
            authorize_event(raw, POLICY)


def test_a_route_without_claims_is_401_before_anything_else() -> None:
    with pytest.raises(Unauthorized):
        authorize_event(event("GET", SUPPORT_ROUTE[1], None), POLICY)


def _staff_router() -> tuple[Any, list[Any]]:
    """A staff router with POLICY and one route on SUPPORT_ROUTE that records its caller
    and the log keys it runs with."""
    from bonestore import log_context
    from bonestore.api.lite_http import LiteRequest, LiteRouter

    router = LiteRouter(policy=POLICY)
    reached: list[Any] = []

    @router.get(SUPPORT_ROUTE[1], summary="a support route")
    def route(request: LiteRequest) -> dict[str, Any]:
        reached.append((request.principal, log_context.current()))
        return {}

    return router, reached


def test_a_staff_route_resolves_with_the_principal_and_logs_who() -> None:
    from bonestore import log_context

    router, reached = _staff_router()
    log_context.reset()
    response = router.resolve(event("GET", SUPPORT_ROUTE[1], staff("support")), None)
    log_context.reset()
    assert response["statusCode"] == 200, response["body"]
    ((principal, keys),) = reached
    assert principal.username == "ada" and principal.groups == frozenset({"support"})
    assert keys == {"staff": "ada"}


@pytest.mark.parametrize(("claims", "status"), [(None, 401), (staff("customer"), 403)])
def test_a_refused_caller_never_reaches_the_route(claims: Any, status: int) -> None:
    from bonestore import log_context

    router, reached = _staff_router()
    log_context.reset()
    response = router.resolve(event("GET", SUPPORT_ROUTE[1], claims), None)
    assert response["statusCode"] == status
    assert json.loads(response["body"])["error"]["code"] in ("unauthorized", "forbidden")
    assert reached == [] and log_context.current() == {}


def test_a_verified_principal_cannot_be_altered() -> None:
    principal = Principal(username="a", email=None, groups=frozenset({"support"}))
    with pytest.raises(AttributeError):
        principal.groups = frozenset({"ops"})  # type: ignore[misc]
