"""Support function: order lookups and eligibility with the why, and held orders released or
refunded, for staff (groups support, ops).

API Gateway's Cognito authorizer has verified the token before we run; the
handler checks the groups in its claims before anything else (401/403), and every
read or change of an order leaves an audit line naming the staff member
(bonestore.api.audit); a release or refund also names them, with the reason, on the
order's timeline.

Its cold start is held to 1.6x the fair floor (issue #14): like admin it runs on the
lean router of ``bonestore.api.lite_http`` with stdlib logging, not Powertools'
resolver, Logger and OpenAPI validation. Bodies and the query string are validated by
pydantic models, their errors answered in the same body as Powertools' ``Body()`` and
``Query()`` would.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bonestore.api.audit import (
    ORDER_READ,
    ORDER_REFUND,
    ORDER_RELEASE,
    ORDER_SEARCH,
    log_order_access,
)
from bonestore.api.auth import READ_GROUPS
from bonestore.api.deps import (
    order_repository,
    product_repository,
    rules_engine,
    support_resolutions,
)
from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.api.observability import observed
from bonestore.api.responses import documented
from bonestore.domain.errors import BonestoreError, InvalidInput, NotFound
from bonestore.domain.orders import MAX_ORDER_ID_LENGTH, ORDER_STATUSES, could_be_order_id
from bonestore.service.carts import EligibilityRequest, decide_request

logger = logging.getLogger("bonestore.support")
logger.setLevel(logging.INFO)

POLICY = {
    ("GET", "/support/orders/{order_id}"): READ_GROUPS,
    ("GET", "/support/orders"): READ_GROUPS,
    ("POST", "/support/eligibility"): READ_GROUPS,
    ("POST", "/support/orders/{order_id}/release"): READ_GROUPS,
    ("POST", "/support/orders/{order_id}/refund"): READ_GROUPS,
}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
STATUS_PATTERN = "^(" + "|".join(ORDER_STATUSES) + ")$"
app = LiteRouter(policy=POLICY)


class OrderQuery(BaseModel):
    """``GET /support/orders``'s query string (other parameters are ignored)."""

    email: Annotated[
        str | None,
        Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN, description="customer email"),
    ] = None
    status: Annotated[
        str | None,
        Field(pattern=STATUS_PATTERN, description="orders in this status, oldest first"),
    ] = None
    limit: Annotated[int, Field(ge=1, le=100, description="page size")] = 20
    next_token: Annotated[
        str | None, Field(max_length=2048, description="from the previous page")
    ] = None


class StaffReason(BaseModel):
    """Why staff release or refund an order (kept on the timeline and the audit line)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = Field(description="why, in the staff member's words (1..500 characters)")


def _audit(request: LiteRequest, action: str, order_ids: list[str], **fields: Any) -> None:
    log_order_access(
        request.staff,
        action,
        order_ids,
        request_id=request.gateway_request_id,
        source_ip=request.source_ip,
        **fields,
    )


@app.get(
    "/support/orders/{order_id}",
    summary="An order, its timeline and its eligibility",
    responses=documented({200: ("SupportOrderOut", "The order")}, {404: "order_not_found"}),
)
def get_order(request: LiteRequest) -> dict[str, Any]:
    from bonestore.service.support import order_view

    order_id = request.path_params.get("order_id", "")
    order = order_repository().get(order_id) if could_be_order_id(order_id) else None
    _audit(
        request,
        ORDER_READ,
        [order_id[:MAX_ORDER_ID_LENGTH]],
        outcome="ok" if order else "not_found",
    )
    if order is None:
        raise NotFound(
            f"No order with id {order_id[:MAX_ORDER_ID_LENGTH]!r}.", code="order_not_found"
        )
    return order_view(order, rules_engine())


@app.get(
    "/support/orders",
    summary="A customer's orders (email matched case-insensitively, newest first) or the "
    "orders in a status (oldest first)",
    responses=documented({200: ("OrderListOut", "Orders, with next_token")}),
    query_model=OrderQuery,
)
def find_orders(request: LiteRequest) -> dict[str, Any]:
    query = request.validated_query(OrderQuery)
    email, status, limit, next_token = query.email, query.status, query.limit, query.next_token
    orders = order_repository()
    if (email is None) == (status is None):
        raise InvalidInput("Give exactly one of email or status.", code="invalid_request")
    if email is not None:
        found, token = orders.find_by_email(email, limit=limit, next_token=next_token)
        _audit(request, ORDER_SEARCH, [order.order_id for order in found], query_email=email)
    else:
        found, token = orders.find_by_status(str(status), limit=limit, next_token=next_token)
        _audit(request, ORDER_SEARCH, [order.order_id for order in found])
    body: dict[str, Any] = {"items": [order.summary() for order in found]}
    if token:
        body["next_token"] = token
    return body


def _resolve(request: LiteRequest, action: str, move: Any) -> dict[str, Any]:
    """Run a release or refund, auditing it whatever the outcome, and answer the order."""
    from bonestore.service.support import order_view

    order_id = request.path_params.get("order_id", "")
    reason = request.validated(StaffReason).reason
    order_key = order_id[:MAX_ORDER_ID_LENGTH]
    try:
        if not could_be_order_id(order_id):
            raise NotFound(f"No order with id {order_key!r}.", code="order_not_found")
        order = move(order_id, reason=reason, staff=request.staff.username)
    except BonestoreError as exc:
        _audit(request, action, [order_key], outcome=exc.code, reason=reason)
        raise
    _audit(request, action, [order_key], reason=reason)
    return order_view(order, rules_engine())


@app.post(
    "/support/orders/{order_id}/release",
    summary="Release a held order the rules now permit on its own address and billing country",
    responses=documented(
        {200: ("SupportOrderOut", "The order, now paid (and on its way to fulfilment)")},
        {404: "order_not_found", 409: "still_not_shippable or invalid_transition"},
    ),
    body_model=StaffReason,
)
def release_order(request: LiteRequest) -> dict[str, Any]:
    return _resolve(request, ORDER_RELEASE, support_resolutions().release)


@app.post(
    "/support/orders/{order_id}/refund",
    summary="Refund a held or paid order in full through Stripe (once, however often retried)",
    responses=documented(
        {200: ("SupportOrderOut", "The order, now refunded")},
        {404: "order_not_found", 409: "invalid_transition or no_payment_to_refund"},
    ),
    body_model=StaffReason,
)
def refund_order(request: LiteRequest) -> dict[str, Any]:
    return _resolve(request, ORDER_REFUND, support_resolutions().refund)


@app.post(
    "/support/eligibility",
    summary="Decide a cart as POST /eligibility does, with every rule considered and why",
    responses=documented({200: ("ExplainedEligibilityOut", "The decision with its trace")}),
    body_model=EligibilityRequest,
)
def explain_eligibility(request: LiteRequest) -> dict[str, Any]:
    from bonestore.service.support import explain

    cart = request.validated(EligibilityRequest)
    engine = rules_engine()
    return explain(decide_request(cart, product_repository(), engine, trace=True), engine)


@resumed_after_first_call
@observed(logger)  # a release or refund may pay, hold or refund: those counts leave here
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context, logger)
