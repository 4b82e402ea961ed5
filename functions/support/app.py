"""Support function: order lookups and eligibility with the why, and held orders released or
refunded, for staff (groups support, ops).

API Gateway's Cognito authorizer has verified the token before we run; the
handler checks the groups in its claims before anything else (401/403), and every
read or change of an order leaves an audit line naming the staff member
(bonestore.api.audit); a release or refund also names them, with the reason, on the
order's timeline.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bonestore.api.audit import (
    ORDER_READ,
    ORDER_REFUND,
    ORDER_RELEASE,
    ORDER_SEARCH,
    log_order_access,
)
from bonestore.api.auth import READ_GROUPS, Principal, resolve_as_staff
from bonestore.api.deps import (
    order_repository,
    product_repository,
    rules_engine,
    support_resolutions,
)
from bonestore.api.http import create_app
from bonestore.api.observability import observed
from bonestore.api.responses import documented
from bonestore.domain.errors import BonestoreError, InvalidInput, NotFound
from bonestore.domain.orders import MAX_ORDER_ID_LENGTH, ORDER_STATUSES, could_be_order_id
from bonestore.service.carts import EligibilityRequest, decide_request
from bonestore.service.ports import OrderStore, ProductStore

logger = Logger()
app = create_app(enable_validation=True)

POLICY = {
    ("GET", "/support/orders/{order_id}"): READ_GROUPS,
    ("GET", "/support/orders"): READ_GROUPS,
    ("POST", "/support/eligibility"): READ_GROUPS,
    ("POST", "/support/orders/{order_id}/release"): READ_GROUPS,
    ("POST", "/support/orders/{order_id}/refund"): READ_GROUPS,
}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
STATUS_PATTERN = "^(" + "|".join(ORDER_STATUSES) + ")$"


class StaffReason(BaseModel):
    """Why staff release or refund an order (kept on the timeline and the audit line)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = Field(description="why, in the staff member's words (1..500 characters)")


def _audit(action: str, order_ids: list[str], **fields: Any) -> None:
    principal: Principal = app.context["principal"]
    context = app.current_event.request_context
    log_order_access(
        principal,
        action,
        order_ids,
        request_id=context.request_id,
        source_ip=context.identity.source_ip,
        **fields,
    )


@app.get(
    "/support/orders/<order_id>",
    summary="An order, its timeline and its eligibility",
    responses=documented({200: ("SupportOrderOut", "The order")}, {404: "order_not_found"}),
)
def get_order(
    order_id: str, orders: Annotated[OrderStore, Depends(order_repository)]
) -> dict[str, Any]:
    from bonestore.service.support import order_view

    order = orders.get(order_id) if could_be_order_id(order_id) else None
    _audit(ORDER_READ, [order_id[:MAX_ORDER_ID_LENGTH]], outcome="ok" if order else "not_found")
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
)
def find_orders(
    orders: Annotated[OrderStore, Depends(order_repository)],
    email: Annotated[
        str | None,
        Query(min_length=3, max_length=254, pattern=EMAIL_PATTERN, description="customer email"),
    ] = None,
    status: Annotated[
        str | None,
        Query(pattern=STATUS_PATTERN, description="orders in this status, oldest first"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 20,
    next_token: Annotated[
        str | None, Query(max_length=2048, description="from the previous page")
    ] = None,
) -> dict[str, Any]:
    if (email is None) == (status is None):
        raise InvalidInput("Give exactly one of email or status.", code="invalid_request")
    if email is not None:
        found, token = orders.find_by_email(email, limit=limit, next_token=next_token)
        _audit(ORDER_SEARCH, [order.order_id for order in found], query_email=email)
    else:
        found, token = orders.find_by_status(str(status), limit=limit, next_token=next_token)
        _audit(ORDER_SEARCH, [order.order_id for order in found])
    body: dict[str, Any] = {"items": [order.summary() for order in found]}
    if token:
        body["next_token"] = token
    return body


def _resolve(action: str, order_id: str, reason: str, move: Any) -> dict[str, Any]:
    """Run a release or refund, auditing it whatever the outcome, and answer the order."""
    from bonestore.service.support import order_view

    principal: Principal = app.context["principal"]
    order_key = order_id[:MAX_ORDER_ID_LENGTH]
    try:
        if not could_be_order_id(order_id):
            raise NotFound(f"No order with id {order_key!r}.", code="order_not_found")
        order = move(order_id, reason=reason, staff=principal.username)
    except BonestoreError as exc:
        _audit(action, [order_key], outcome=exc.code, reason=reason)
        raise
    _audit(action, [order_key], reason=reason)
    return order_view(order, rules_engine())


@app.post(
    "/support/orders/<order_id>/release",
    summary="Release a held order the rules now permit on its own address and billing country",
    responses=documented(
        {200: ("SupportOrderOut", "The order, now paid (and on its way to fulfilment)")},
        {404: "order_not_found", 409: "still_not_shippable or invalid_transition"},
    ),
)
def release_order(order_id: str, request: Annotated[StaffReason, Body()]) -> dict[str, Any]:
    return _resolve(ORDER_RELEASE, order_id, request.reason, support_resolutions().release)


@app.post(
    "/support/orders/<order_id>/refund",
    summary="Refund a held or paid order in full through Stripe (once, however often retried)",
    responses=documented(
        {200: ("SupportOrderOut", "The order, now refunded")},
        {404: "order_not_found", 409: "invalid_transition or no_payment_to_refund"},
    ),
)
def refund_order(order_id: str, request: Annotated[StaffReason, Body()]) -> dict[str, Any]:
    return _resolve(ORDER_REFUND, order_id, request.reason, support_resolutions().refund)


@app.post(
    "/support/eligibility",
    summary="Decide a cart as POST /eligibility does, with every rule considered and why",
    responses=documented({200: ("ExplainedEligibilityOut", "The decision with its trace")}),
)
def explain_eligibility(
    request: Annotated[EligibilityRequest, Body()],
    products: Annotated[ProductStore, Depends(product_repository)],
) -> dict[str, Any]:
    from bonestore.service.support import explain

    engine = rules_engine()
    return explain(decide_request(request, products, engine, trace=True), engine)


@resumed_after_first_call
@logger.inject_lambda_context(
    clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
)
@observed(logger)  # a release or refund may pay, hold or refund: those counts leave here
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_as_staff(app, event, context, POLICY, logger)
