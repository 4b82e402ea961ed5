"""Contract v2's body rules, as pure functions (the HTTP reproducers: test_edge_rules)."""

from __future__ import annotations

import json

import pytest

from bonestore.api.json_body import (
    event_body,
    is_json_media_type,
    nesting_depth,
    parse_json_object,
)
from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.domain.errors import BonestoreError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        " application/problem+json ;q=1",
    ],
)
def test_json_media_types(value: str) -> None:
    assert is_json_media_type(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "text/plain",
        "text/json",
        "application/jsonx",
        "application/xml",
        "application/+json",
        "json",
        "application/json/x",
    ],
)
def test_not_json_media_types(value: str | None) -> None:
    assert not is_json_media_type(value)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),
        (r'{"a": "\"[[["}', 1),
        ("1", 0),
    ],
)
def test_nesting_depth_ignores_brackets_in_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_a_million_levels_are_measured_without_recursion() -> None:
    assert nesting_depth("[" * 1_000_000) == 1_000_000


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"\xff", 400, "invalid_json"),
        (b"{", 400, "invalid_json"),
        (b"[]", 400, "invalid_json"),
        (b'{"a": Infinity}', 400, "invalid_json"),
        (b"[" * 33 + b"]" * 33, 400, "invalid_json"),
        (b'{"a": "' + b"x" * 70_000 + b'"}', 413, "payload_too_large"),
    ],
)
def test_bad_bodies(raw: bytes, status: int, code: str) -> None:
    with pytest.raises(BonestoreError) as caught:
        parse_json_object(raw)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_a_good_body_parses() -> None:
    assert parse_json_object(b'{"items": [{"sku": "A"}]}') == {"items": [{"sku": "A"}]}


def event(body: str | None, content_type: str | None = "application/json", method: str = "POST"):
    headers = {"content-type": content_type} if content_type else {}
    return {"httpMethod": method, "headers": headers, "body": body, "isBase64Encoded": False}


def test_requests_without_a_body_or_with_get_are_not_checked() -> None:
    assert event_body(event(None, None)) == (None, b"")
    assert event_body(event("", None)) == (None, b"")
    assert event_body(event("not json", "text/plain", method="GET")) == (None, b"")
    assert event_body(event(None, method="GET")) == (None, b"")


def test_the_body_comes_with_the_bytes_it_was_parsed_from() -> None:
    raw = '{"id": "evt_1", "name": "caf\u00e9"}'
    assert event_body(event(raw)) == ({"id": "evt_1", "name": "caf\u00e9"}, raw.encode())


@pytest.mark.parametrize("body", [None, ""])
@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_a_body_declared_json_but_empty_is_invalid_json(
    body: str | None, content_type: str
) -> None:
    with pytest.raises(BonestoreError) as caught:
        event_body(event(body, content_type))
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


def test_the_router_answers_the_rules_before_the_route_with_cors() -> None:
    app = LiteRouter(cors_origin="https://shop.example")
    reached: list[LiteRequest] = []

    @app.post("/webhooks/stripe", summary="raw", raw_body=True)
    def route(request: LiteRequest) -> dict[str, str]:
        reached.append(request)
        return {}

    response = app.resolve(
        {
            **event("{}", "text/plain"),
            "resource": "/webhooks/stripe",
            "headers": {"Content-Type": "text/plain", "Origin": "https://shop.example"},
        },
        None,
    )
    assert reached == []
    assert response["statusCode"] == 415
    assert json.loads(response["body"])["error"]["code"] == "unsupported_media_type"
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://shop.example"
