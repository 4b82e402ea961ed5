"""The business and failure metrics the code emits (CloudWatch EMF through Powertools in
AWS; ``bonestore.adapters.metrics``), by name: the one list template.yaml's alarms and
dashboard are checked against (tests/unit/test_metrics_template.py).

Two kinds, as docs/deploy.md#metrics-the-code-must-emit requires:

- ``COUNTS``: dimension-free (only Powertools' ``service``). An alarm or a chart names
  the metric with exactly that dimension; another dimension would make a different
  metric it does not see.
- ``BREAKDOWNS``: name -> the one extra dimension it is split by (an error code, a rule
  id). Always a *separate* name from the dimension-free total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CHECKOUT_CREATED = "CheckoutCreated"  # a checkout session opened (201; not a replay)
CHECKOUT_FAILED = "CheckoutFailed"  # POST /checkout answered 4xx or 5xx
ORDERS_PAID = "OrdersPaid"  # an order became paid at payment (webhook or sweeper)
ORDERS_HELD = "OrdersHeld"  # a paid order held: refused at payment or at fulfilment
ORDERS_REFUNDED = "OrdersRefunded"  # an order refunded automatically
WEBHOOK_FAILURES = "WebhookFailures"  # a Stripe delivery refused or failed (not in flight)
RESERVATIONS_RELEASED = "ReservationsReleased"  # the sweeper released a reservation
FULFILMENT_REFUSED = "FulfilmentRefused"  # the re-check at fulfilment refused a paid order

CHECKOUT_FAILED_BY_CODE = "CheckoutFailedByCode"
CHECKOUT_REFUSED_BY_RULE = "CheckoutRefusedByRule"  # not_shippable / method unavailable
ORDERS_HELD_BY_RULE = "OrdersHeldByRule"  # at payment and at fulfilment
WEBHOOK_FAILURES_BY_CODE = "WebhookFailuresByCode"

COUNTS = frozenset(
    {
        CHECKOUT_CREATED,
        CHECKOUT_FAILED,
        ORDERS_PAID,
        ORDERS_HELD,
        ORDERS_REFUNDED,
        WEBHOOK_FAILURES,
        RESERVATIONS_RELEASED,
        FULFILMENT_REFUSED,
    }
)
BREAKDOWNS: Mapping[str, str] = {
    CHECKOUT_FAILED_BY_CODE: "code",
    CHECKOUT_REFUSED_BY_RULE: "rule_id",
    ORDERS_HELD_BY_RULE: "rule_id",
    WEBHOOK_FAILURES_BY_CODE: "code",
}


class DiscardMetrics:
    """``BusinessMetrics`` that keeps nothing: for a use case built without metrics."""

    def count(self, name: str, *, by: str | None = None, value: int = 1) -> None:
        return None

    def flush(self) -> None:
        return None


NO_METRICS = DiscardMetrics()


def refusing_rules(reasons: Iterable[Any]) -> list[str]:
    """The distinct rule ids of refusal reasons (``{"rule_id": ...}``), sorted."""
    return sorted(
        {str(r["rule_id"]) for r in reasons if isinstance(r, Mapping) and r.get("rule_id")}
    )
