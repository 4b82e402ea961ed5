"""``EmfMetrics``: counts kept until the flush, totals in one EMF document with the
``service`` dimension only, each breakdown in its own; never an exception to the caller."""

from __future__ import annotations

import json
import logging

import pytest

from bonestore.adapters.metrics import LOCAL_NAMESPACE, EmfMetrics
from bonestore.service.metrics import BREAKDOWNS

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bonestore")
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def documents(printed: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]


def test_counts_leave_at_the_flush_summed_totals_apart_from_breakdowns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = EmfMetrics(breakdowns=BREAKDOWNS)
    metrics.count("CheckoutFailed")
    metrics.count("CheckoutFailed")
    metrics.count("CheckoutFailedByCode", by="out_of_stock")
    assert capsys.readouterr().out == ""
    metrics.flush()
    breakdown, totals = documents(capsys.readouterr().out)
    (directive,) = totals["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert directive["Namespace"] == LOCAL_NAMESPACE  # no stack set one
    assert directive["Dimensions"] == [["service"]]
    assert totals["CheckoutFailed"] == [2.0]
    (directive,) = breakdown["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert sorted(directive["Dimensions"][0]) == ["code", "service"]
    assert breakdown["code"] == "out_of_stock" and breakdown["CheckoutFailedByCode"] == [1.0]
    metrics.flush()  # nothing left: nothing printed
    assert capsys.readouterr().out == ""


def test_a_total_with_a_dimension_or_a_breakdown_without_one_is_dropped(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    metrics = EmfMetrics(breakdowns=BREAKDOWNS, namespace="Bonestore/test")
    with caplog.at_level(logging.WARNING):
        metrics.count("OrdersHeld", by="embargo-cuba")
        metrics.count("OrdersHeldByRule")
    metrics.flush()
    assert documents(capsys.readouterr().out) == []
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_publishing_failure_is_a_warning_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from aws_lambda_powertools.metrics import Metrics

    def broken(self: Metrics, *args: object, **kwargs: object) -> None:
        raise RuntimeError("stdout closed")

    monkeypatch.setattr(Metrics, "flush_metrics", broken)
    metrics = EmfMetrics(breakdowns=BREAKDOWNS, namespace="Bonestore/test")
    metrics.count("OrdersPaid")
    with caplog.at_level(logging.WARNING):
        metrics.flush()
    assert "metrics not published (RuntimeError)" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
