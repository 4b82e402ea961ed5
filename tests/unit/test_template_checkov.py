"""Checkov's exceptions are explained where they are made.

`make sam-check` runs Checkov over template.yaml and fails on any failed check; a
check that does not apply is skipped on the resource itself, with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bonestore_infra import template_gates as gates
from bonestore_infra.template import DEFAULT_TEMPLATE, Template

pytestmark = pytest.mark.unit


def test_every_checkov_skip_has_a_reason() -> None:
    template = Template()
    assert len(gates.checkov_suppressions(template)) >= 10
    assert gates.unexplained_suppressions(template) == []


def test_skips_are_made_only_for_checks_that_do_not_apply() -> None:
    """What the template states instead of skipping: WAF, concurrency, logs, PITR."""
    skipped = {(s.resource, s.check) for s in gates.checkov_suppressions(Template())}
    for check in ("CKV_AWS_68", "CKV_AWS_115", "CKV_AWS_158", "CKV_AWS_86", "CKV_AWS_18"):
        assert not any(c == check and r != "AccessLogBucket" for r, c in skipped), check
    assert ("IdempotencyTable", "CKV_AWS_28") in skipped
    assert ("ProductsTable", "CKV_AWS_28") not in skipped


def test_a_skip_without_a_reason_is_caught(tmp_path: Path) -> None:
    text = DEFAULT_TEMPLATE.read_text("utf-8")
    old = "          - id: CKV_AWS_120\n            comment: answers are per request"
    assert old in text
    bad = text.replace(
        old, "          - id: CKV_AWS_120\n            comment: n/a\n            x: answers"
    )
    path = tmp_path / "template.yaml"
    path.write_text(bad, "utf-8")
    assert gates.unexplained_suppressions(Template(path)) == [
        "Api: skip of CKV_AWS_120 has no reason"
    ]
