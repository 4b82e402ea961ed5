"""API Gateway's own answers (template GatewayResponses) speak as the functions and the
local gateway do for the same failure: the contract's body, the same code (the status
of each is checked in test_template_production)."""

from __future__ import annotations

import json
import re

import pytest

from bonestore.api.json_body import parse_json_object
from bonestore.domain.errors import BonestoreError
from bonestore_infra.template import Template

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def responses() -> dict[str, dict[str, object]]:
    api = Template().resources["Api"]["Properties"]
    return dict(api["GatewayResponses"])


def body_of(response: dict[str, object]) -> dict[str, str]:
    templates = response["ResponseTemplates"]
    assert isinstance(templates, dict)
    text = templates["application/json"]
    # $context.error.messageString is already a quoted JSON string; others sit in quotes.
    text = text.replace("$context.error.messageString", '"message"')
    text = re.sub(r"\$context\.[A-Za-z.]+", "x", text)
    body = json.loads(text)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return dict(body["error"])


def test_every_gateway_response_is_the_contract_body(responses) -> None:
    for name, response in responses.items():
        error = body_of(response)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), (name, error)


def test_a_non_object_body_reads_the_same_from_the_gateway_and_the_function(responses) -> None:
    with pytest.raises(BonestoreError) as caught:
        parse_json_object(b"[]")
    assert body_of(responses["BAD_REQUEST_BODY"]) == {
        "code": caught.value.code,
        "message": caught.value.message,
    }
