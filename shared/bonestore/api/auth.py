"""Who is calling: the staff principal from the claims API Gateway's Cognito authorizer passes.

API Gateway (REST, Cognito user pool authorizer) verifies the token and hands the
handler its claims in ``requestContext.authorizer.claims``, every value a string;
``cognito:groups`` is the names joined by commas (:func:`parse_groups`).

Group policy (issue #5): ``support`` and ``ops`` may read (support routes and the
active ruleset), only ``ops`` may change the catalog. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from bonestore.domain.errors import Forbidden, Unauthorized

READ_GROUPS = frozenset({"support", "ops"})
WRITE_GROUPS = frozenset({"ops"})
WAREHOUSE = "warehouse"
# Who may say a parcel left (contract v2: ops or the warehouse's own accounts).
SHIPPING_GROUPS = frozenset({"ops", WAREHOUSE})
# Every group a route policy may name (contract v2: support, ops, warehouse).
KNOWN_GROUPS = READ_GROUPS | WRITE_GROUPS | SHIPPING_GROUPS


class Principal(NamedTuple):
    """A verified caller. ``username`` is what the audit trail records."""

    username: str
    email: str | None
    groups: frozenset[str]
    subject: str | None = None

    def in_any(self, groups: Iterable[str]) -> bool:
        return not self.groups.isdisjoint(groups)


def parse_groups(value: Any) -> frozenset[str]:
    """``cognito:groups`` as API Gateway's REST Cognito authorizer delivers it: exact names.

    The authorizer turns the token's list into one string, the names joined by commas
    (``"support"``, ``"support,ops"``). Cognito allows commas (and brackets) in a group
    name, so ``"customer,ops"`` may be one group named so: a string is split only when
    every part is a group this API knows (:data:`KNOWN_GROUPS`); otherwise it grants
    nothing (fail closed). Names are never trimmed, unbracketed or unquoted, so no
    substring (``"[ops]"``, ``"x ops"``, ``" ops"``) grants a group. A real list
    (a handler invoked with the token's own claims) is taken name by name.
    """
    if value is None:
        return frozenset()
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(v for v in value if isinstance(v, str) and v)
    if not isinstance(value, str) or not value:
        return frozenset()
    if "," not in value:
        return frozenset({value})
    parts = value.split(",")
    return frozenset(parts) if all(part in KNOWN_GROUPS for part in parts) else frozenset()


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal | None:
    """The principal the claims describe; None when there are none (no authorizer ran)."""
    if not claims:
        return None
    subject = claims.get("sub")
    username = (
        claims.get("cognito:username") or claims.get("username") or subject or claims.get("email")
    )
    if not username:
        return None
    email = claims.get("email")
    return Principal(
        username=str(username),
        email=str(email) if email else None,
        groups=parse_groups(claims.get("cognito:groups")),
        subject=str(subject) if subject else None,
    )


def claims_of(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``requestContext.authorizer.claims`` of an API Gateway REST proxy event, if any."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    if not isinstance(authorizer, Mapping):
        return None
    claims = authorizer.get("claims")
    return claims if isinstance(claims, Mapping) else None


def require_group(principal: Principal | None, allowed: Iterable[str]) -> Principal:
    """The principal, if it belongs to one of ``allowed``.

    Raises :class:`Unauthorized` (401 ``unauthorized``) with no principal and
    :class:`Forbidden` (403 ``forbidden``) for a principal in none of the groups.
    """
    wanted = frozenset(allowed)
    if principal is None:
        raise Unauthorized("A valid bearer token is required.")
    if not principal.in_any(wanted):
        raise Forbidden(f"This needs a token of group {' or '.join(sorted(wanted))}.")
    return principal


# A route's policy: (HTTP method, API Gateway resource path as in template.yaml) -> groups.
RoutePolicy = Mapping[tuple[str, str], frozenset[str]]


def authorize_event(event: Mapping[str, Any], policy: RoutePolicy) -> Principal:
    """The caller of an API Gateway REST event, checked against the route's groups.

    Runs before the request is parsed, so a caller without the right group learns
    nothing about the body it would need (401/403 before any 400). A route missing
    from ``policy`` needs ``ops`` (default deny to the least privileged).
    """
    key = (str(event.get("httpMethod", "")).upper(), str(event.get("resource", "")))
    principal = principal_from_claims(claims_of(event))
    return require_group(principal, policy.get(key, WRITE_GROUPS))
