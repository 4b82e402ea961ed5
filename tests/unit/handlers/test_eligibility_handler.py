"""The eligibility function's ``lambda_handler`` with API Gateway events and in-memory products."""

from __future__ import annotations

import pytest

from tests.unit.handlers.conftest import Invoke, api_event, body_of

pytestmark = pytest.mark.unit


def test_eligible_cart_with_its_shipping_methods(invoke: Invoke) -> None:
    response = invoke("eligibility", api_event("eligibility-post.json"))
    assert response["statusCode"] == 200
    decision = body_of(response)
    assert decision["eligible"] is True
    assert decision["destination"] == {"country": "US", "subdivision": "US-IL"}
    assert [line["sku"] for line in decision["items"]] == ["TRUEOSTEO-120", "ORP-EBOOK"]
    standard = next(m for m in decision["shipping_methods"] if m["id"] == "standard")
    assert standard["price"]["currency"] == "USD"
    assert isinstance(standard["price"]["amount"], int)  # minor units, never a float


def test_not_shippable_line_says_why(invoke: Invoke) -> None:
    cart = {"items": [{"sku": "RESTWELL-60", "quantity": 1}], "destination": {"country": "DE"}}
    response = invoke("eligibility", api_event("eligibility-post.json", body=cart))
    assert response["statusCode"] == 200
    decision = body_of(response)
    assert decision["eligible"] is False
    (line,) = decision["items"]
    assert line["eligible"] is False
    assert [r["rule_id"] for r in line["reasons"]] == ["no-melatonin-dhea"]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        {"items": [], "destination": {"country": "US"}},
        {"items": [{"sku": "TRUEOSTEO-120", "quantity": 0}], "destination": {"country": "US"}},
        {"items": [{"sku": "TRUEOSTEO-120", "quantity": 1}]},
    ],
    ids=["not-json", "no-items", "zero-quantity", "no-destination"],
)
def test_bad_body_is_400_with_the_contract_error_body(invoke: Invoke, body: object) -> None:
    response = invoke("eligibility", api_event("eligibility-post.json", body=body))
    assert response["statusCode"] == 400, response["body"]
    error = body_of(response)["error"]
    assert error["code"] and error["message"]


def test_unknown_sku_is_400(invoke: Invoke) -> None:
    cart = {"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}], "destination": {"country": "US"}}
    response = invoke("eligibility", api_event("eligibility-post.json", body=cart))
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "unknown_sku"


def test_a_body_that_is_not_json_by_content_type_is_415(invoke: Invoke) -> None:
    event = api_event("eligibility-post.json", headers={"Content-Type": "text/plain"})
    response = invoke("eligibility", event)
    assert response["statusCode"] == 415
    assert body_of(response)["error"]["code"] == "unsupported_media_type"
