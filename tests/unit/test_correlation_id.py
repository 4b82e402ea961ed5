"""Every log line of an API request carries its correlation id (the API Gateway request id).

Every API function runs on the lean router and logs with stdlib only:
``LiteRouter.handle`` binds it as a ``log_context`` key,
which a filter writes on every record reaching the root logger's handlers, and Lambda's
JSON log format prints a record's extra keys (awslambdaric's ``JsonFormatter``).
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from bonestore.api import deps
from bonestore.domain.catalog import seed_catalog
from bonestore_infra.template import REPO_ROOT
from tests.fakes import MemoryProducts
from tests.helpers import fresh_function_module

pytestmark = pytest.mark.unit


@dataclass
class FakeContext:
    function_name: str = "EligibilityFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:Eligibility"
    aws_request_id: str = "lambda-request-1"


def _event(request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": "/eligibility",
        "path": "/eligibility",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": request_id, "stage": "dev", "resourcePath": "/eligibility"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


class LambdaJsonFormatter(logging.Formatter):
    """What Lambda's JSON log format writes (awslambdaric ``JsonFormatter``): the message
    and every attribute of the record that is not a standard one."""

    STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in self.STANDARD}
        return json.dumps({"message": record.getMessage(), **extra}, default=str)


def test_each_line_of_a_request_carries_that_requests_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = fresh_function_module("eligibility", "correlation")
    import bonestore.service.carts as carts

    real_decide = carts.decide_request

    def decide_and_log(request: Any, products: Any, engine: Any) -> Any:
        # A service-layer line (stdlib logger under ``bonestore``), as checkout's are.
        logging.getLogger("bonestore.service.carts").info("deciding a cart")
        return real_decide(request, products, engine)

    monkeypatch.setattr(carts, "decide_request", decide_and_log)
    catalog = MemoryProducts({**p.model_dump(mode="json"), "active": True} for p in seed_catalog())
    cart = {"destination": {"country": "US"}, "items": [{"sku": "ORP-EBOOK", "quantity": 1}]}
    # Lambda's own handler on the root logger, as the runtime installs it before the import.
    written = io.StringIO()
    lambda_handler = logging.StreamHandler(written)
    lambda_handler.setFormatter(LambdaJsonFormatter())
    root = logging.getLogger()
    root.addHandler(lambda_handler)
    monkeypatch.setattr(logging.getLogger("bonestore"), "level", logging.INFO)
    try:
        with deps.override(deps.product_repository, lambda: catalog):
            first = app.lambda_handler(_event("api-req-1", cart), FakeContext())
            second = app.lambda_handler(_event("api-req-2", cart), FakeContext())
    finally:
        root.removeHandler(lambda_handler)
    assert first["statusCode"] == 200 and second["statusCode"] == 200
    lines = [
        line
        for line in _log_lines(written.getvalue())
        if line["message"] in ("deciding a cart", "eligibility decided")
        or line["message"].startswith("POST /eligibility")
    ]
    messages = [line["message"] for line in lines]
    assert messages == ["deciding a cart", "eligibility decided", "POST /eligibility -> 200"] * 2
    assert [line.get("correlation_id") for line in lines] == ["api-req-1"] * 3 + ["api-req-2"] * 3


def test_every_api_function_sets_the_correlation_id() -> None:
    """The wiring, per function: a function without it would log uncorrelated lines."""
    lean = ("catalog", "eligibility", "orders", "admin", "checkout", "support", "webhook")
    for name in lean:  # the lean router binds it in handle()
        source = (REPO_ROOT / "functions" / name / "app.py").read_text("utf-8")
        assert "app.handle(event, context, logger)" in source, name
