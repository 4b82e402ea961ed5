"""Reservation sweeper (scheduled): releases stock held by checkouts nobody finished.

Wiring only: the use case is ``bonestore.service.reservations.ReservationSweeper``.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import time
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.api.deps import reservation_sweeper
from bonestore.api.observability import observed

logger = Logger()
# Leave this much of the invocation for the orders in hand to finish.
MIN_REMAINING_MS = 5000


def sweep(now: datetime | None = None, context: LambdaContext | None = None) -> dict[str, int]:
    def time_left() -> bool:
        return context is None or context.get_remaining_time_in_millis() >= MIN_REMAINING_MS

    return reservation_sweeper().sweep(now, time_left=time_left)


@resumed_after_first_call
@logger.inject_lambda_context(clear_state=True)
@observed(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    counts = sweep(context=context)
    logger.info(
        "reservations swept",
        extra={**counts, "duration_ms": round((time.monotonic() - started) * 1000)},
    )
    return counts
