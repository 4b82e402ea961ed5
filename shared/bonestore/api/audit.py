"""The audit trail: one structured log line for every read of customer orders by staff.

The line names the staff member (username, subject, groups), the action and the
order ids read; it never carries a customer's email or address unmasked (a lookup
by email records the masked email). Lines go to the ``bonestore.api.audit`` logger with
``"audit": true``; in Lambda, Powertools' ``bonestore`` logger (the service name)
formats them as JSON, so CloudWatch Logs Insights can filter ``audit = 1``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bonestore.api.auth import Principal
from bonestore.domain.orders import now_iso
from bonestore.domain.privacy import mask_email

AUDIT_LOGGER = "bonestore.audit"
audit_logger = logging.getLogger(AUDIT_LOGGER)

ORDER_READ = "support.order.read"
ORDER_SEARCH = "support.orders.search"
ORDER_RELEASE = "support.order.release"
ORDER_REFUND = "support.order.refund"


def audit_record(
    principal: Principal,
    action: str,
    order_ids: Iterable[str],
    *,
    outcome: str = "ok",
    query_email: str | None = None,
    request_id: str | None = None,
    source_ip: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The audit line's fields (pure; see :func:`log_order_access`)."""
    record: dict[str, Any] = {
        "audit": True,
        "at": now_iso(),
        "action": action,
        "outcome": outcome,
        "actor": {
            "username": principal.username,
            "subject": principal.subject,
            "groups": sorted(principal.groups),
        },
        "order_ids": list(order_ids),
    }
    if query_email is not None:
        record["query"] = {"email": mask_email(query_email)}
    if reason is not None:
        record["reason"] = reason
    if request_id:
        record["request_id"] = request_id
    if source_ip:
        record["source_ip"] = source_ip
    return record


def log_order_access(
    principal: Principal,
    action: str,
    order_ids: Iterable[str],
    *,
    logger: logging.Logger | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Write the audit line (at INFO, on ``bonestore.api.audit``) and return it."""
    record = audit_record(principal, action, order_ids, **fields)
    (logger or audit_logger).info(
        "audit %s by %s: %s",
        action,
        principal.username,
        ", ".join(record["order_ids"]) or "no orders",
        extra=dict(record),
    )
    return record
