"""template.yaml's alarms and dashboard against the metrics the code emits
(``bonestore.service.metrics``): a name either side does not know is a widget that
stays empty or an alarm that can never fire, and an extra dimension on a total is a
different metric the alarm does not see (docs/deploy.md#metrics-the-code-must-emit)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bonestore.service import metrics
from bonestore_infra.template import REPO_ROOT, Template

pytestmark = pytest.mark.unit

NAMESPACE = "Bonestore/${AWS::StackName}"
SERVICE_ONLY = {"service": "bonestore"}
SEARCH = re.compile(r"SEARCH\('\{\"?([^\"},]+)\"?,([^}]*)\} MetricName=\"([A-Za-z]+)\"")
# A reference: (metric name, its dimensions; None for a SEARCH: dimension names only).
Reference = tuple[str, dict[str, Any] | frozenset[str]]


def _is_ours(namespace: Any) -> bool:
    return namespace in (NAMESPACE, {"Fn::Sub": NAMESPACE})


def log_filter_metrics(resources: dict[str, Any]) -> set[str]:
    """Metrics made from logs by the template itself (no code emits them)."""
    return {
        t["MetricName"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
        for t in r["Properties"]["MetricTransformations"]
    }


def alarm_references(resources: dict[str, Any]) -> Iterator[Reference]:
    for resource in resources.values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        stats = [props] + [
            q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q
        ]
        for stat in stats:
            if _is_ours(stat.get("Namespace")) and "MetricName" in stat:
                dims = {d["Name"]: d["Value"] for d in stat.get("Dimensions", [])}
                yield stat["MetricName"], dims


def _unsubstituted(text: str) -> str:
    """``${X}`` spelled ``$<X>``: the body parses as JSON, and names stay comparable."""
    return re.sub(r"\$\{([^}]+)\}", r"$<\1>", text)


def dashboard_references(resources: dict[str, Any]) -> Iterator[Reference]:
    body = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    ours = _unsubstituted(NAMESPACE)
    for widget in json.loads(_unsubstituted(body))["widgets"]:
        previous: list[Any] = []
        for row in widget.get("properties", {}).get("metrics", []):
            for query in (
                v["expression"] for v in row if isinstance(v, dict) and "expression" in v
            ):
                for namespace, dimensions, name in SEARCH.findall(query):
                    if namespace == ours:
                        yield name, frozenset(d.strip() for d in dimensions.split(","))
            plain = [v for v in row if not isinstance(v, dict)]
            if not plain:
                continue
            row = [p if v == "." else v for v, p in zip(plain, previous + plain[len(previous):], strict=False)]  # fmt: skip
            previous = row
            if row[0] == ours:
                yield row[1], dict(zip(row[2::2], row[3::2], strict=True))


def problems(resources: dict[str, Any]) -> list[str]:
    """What the alarms and the dashboard name that the code does not emit, or emits otherwise."""
    from_logs = log_filter_metrics(resources)
    found: list[str] = []
    for name, dims in [*alarm_references(resources), *dashboard_references(resources)]:
        if name in from_logs:
            continue
        if name in metrics.COUNTS:
            if dims != SERVICE_ONLY:
                found.append(f"{name} is dimension-free (service only), not {dims}")
        elif name in metrics.BREAKDOWNS:
            wanted = {"service", metrics.BREAKDOWNS[name]}
            if set(dims) != wanted:
                found.append(f"{name} has dimensions {sorted(wanted)}, not {sorted(dims)}")
        else:
            found.append(f"{name}: no code emits it")
    charted = {name for name, _ in dashboard_references(resources)}
    for name in sorted((metrics.COUNTS | set(metrics.BREAKDOWNS)) - charted):
        found.append(f"{name}: emitted but not on the dashboard")
    return found


RESOURCES = Template().resources


def test_every_code_metric_of_the_template_is_emitted_as_named() -> None:
    assert problems(RESOURCES) == []
    alarmed = {name for name, _ in alarm_references(RESOURCES)}
    assert metrics.ORDERS_HELD in alarmed


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('"CheckoutCreated"', '"CheckoutsCreated"', "CheckoutsCreated: no code emits it"),
        ("code,service} MetricName", "service} MetricName", "CheckoutFailedByCode has dimensions"),
        ('"FulfilmentRefused"', '"Invocations"', "FulfilmentRefused: emitted but not on the dashboard"),
    ],
    ids=["chart-misnamed", "breakdown-without-its-dimension", "total-not-charted"],
)  # fmt: skip
def test_the_check_finds_a_misnamed_or_missing_dashboard_metric(
    old: str, new: str, problem: str
) -> None:
    resources = copy.deepcopy(RESOURCES)
    body = resources["OperationsDashboard"]["Properties"]["DashboardBody"]
    assert old in body["Fn::Sub"]
    body["Fn::Sub"] = body["Fn::Sub"].replace(old, new, 1)
    assert any(p.startswith(problem) for p in problems(resources)), problems(resources)


def test_the_check_finds_a_misnamed_alarm_metric() -> None:
    resources = copy.deepcopy(RESOURCES)
    resources["OrdersHeldAlarm"]["Properties"]["MetricName"] = "OrderHeld"
    assert problems(resources) == ["OrderHeld: no code emits it"]


def test_a_dimension_on_an_alarmed_total_is_found() -> None:
    resources = copy.deepcopy(RESOURCES)
    resources["OrdersHeldAlarm"]["Properties"]["Dimensions"].append({"Name": "code", "Value": "x"})
    assert problems(resources) == [
        "OrdersHeld is dimension-free (service only), not {'service': 'bonestore', 'code': 'x'}"
    ]


def test_every_declared_metric_is_counted_somewhere_in_the_code() -> None:
    """A name only declared would pass the template check and still never be emitted."""
    constants = {k for k, v in vars(metrics).items() if isinstance(v, str) and k.isupper()}
    sources = [
        p.read_text("utf-8")
        for root in (REPO_ROOT / "shared" / "bonestore", REPO_ROOT / "functions")
        for p in Path(root).rglob("*.py")
        if p.name != "metrics.py" or p.parent.name != "service"
    ]
    unused = {c for c in constants if not any(f".{c}" in text for text in sources)}
    assert unused == set()
    assert {getattr(metrics, c) for c in constants} == metrics.COUNTS | set(metrics.BREAKDOWNS)
