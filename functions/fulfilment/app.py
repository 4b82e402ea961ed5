"""Fulfilment function (SQS ``FulfilmentQueue``, fed by the ``OrderPaid`` rule): each paid
order is judged by the rules once more before the warehouse sees it.

Wiring only: the use case is ``bonestore.service.fulfilment.Fulfilment``. Messages are
processed one by one with Powertools' batch utility; a message that fails is reported
back (``batchItemFailures``, the event source has ``ReportBatchItemFailures``) so only it
is retried, and after the queue's ``maxReceiveCount`` it goes to the dead-letter queue.
A message that names no order is a bad message, not a retry: it is logged and dropped.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore import log_context
from bonestore.api.deps import fulfilment
from bonestore.api.observability import observed
from bonestore.domain.orders import could_be_order_id

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def order_id_of(body: str) -> str | None:
    """The order an EventBridge ``OrderPaid`` event (the message body) names."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    detail = event.get("detail") if isinstance(event, dict) else None
    order_id = detail.get("order_id") if isinstance(detail, dict) else None
    return order_id if could_be_order_id(order_id) else None


def record_handler(record: SQSRecord) -> dict[str, Any]:
    order_id = order_id_of(record.body)
    if order_id is None:
        logger.error("fulfilment message names no order: dropped", extra={"id": record.message_id})
        return {"outcome": "unreadable"}
    with log_context.bound(order_id=order_id):
        result = fulfilment().hand_over(order_id)
        logger.info(
            "fulfilment decided",
            extra={"outcome": result.outcome, "rule_ids": list(result.rule_ids)},
        )
    return {"order_id": order_id, "outcome": result.outcome}


@resumed_after_first_call
@logger.inject_lambda_context(clear_state=True)
@observed(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
