"""``BusinessMetrics`` over Powertools Metrics: CloudWatch embedded metric format (EMF).

Counts are kept in memory and leave at ``flush`` (once per invocation, from the
handler): the dimension-free totals as one EMF document with Powertools' ``service``
dimension only, each breakdown as its own document with ``service`` and its one extra
dimension (Powertools ``single_metric``), so a total never gains a dimension its alarm
does not name. Powertools is imported at the first flush that has something to
publish: an invocation that counted nothing prints nothing and imports nothing.

Publishing must never fail a request: a problem is logged (as a warning: it must not
page through the ``LoggedErrors`` filters) and the counts are dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger("bonestore.adapters.metrics")
# Where no stack sets POWERTOOLS_METRICS_NAMESPACE (the local server, tests).
LOCAL_NAMESPACE = "Bonestore/local"


class EmfMetrics:
    def __init__(self, *, breakdowns: Mapping[str, str], namespace: str | None = None) -> None:
        self._breakdowns = breakdowns
        self._namespace = (
            namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or LOCAL_NAMESPACE
        )
        self._pending: dict[tuple[str, str | None], int] = {}

    def count(self, name: str, *, by: str | None = None, value: int = 1) -> None:
        if (by is None) != (name not in self._breakdowns):
            log.warning("metric %s counted %s a dimension value: dropped", name,
                        "without" if by is None else "with")  # fmt: skip
            return
        key = (name, by)
        self._pending[key] = self._pending.get(key, 0) + value

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        from aws_lambda_powertools.metrics import Metrics, MetricUnit, single_metric

        totals = Metrics(namespace=self._namespace)
        try:
            for (name, by), value in pending.items():
                if by is None:
                    totals.add_metric(name=name, unit=MetricUnit.Count, value=value)
                    continue
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=value,
                    namespace=self._namespace,
                    default_dimensions={self._breakdowns[name]: by[:250]},
                ):
                    pass
            if totals.metric_set:
                totals.flush_metrics()
        except Exception as exc:
            log.warning("metrics not published (%s): %s", type(exc).__name__, sorted(pending))
        finally:
            totals.clear_metrics()
