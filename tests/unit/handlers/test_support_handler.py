"""The support function's ``lambda_handler``: the staff claims API Gateway's Cognito
authorizer passes (``cognito:groups`` a string), over the in-memory order store."""

from __future__ import annotations

import pytest

from tests.unit.handlers.conftest import Fakes, Invoke, api_event, body_of, open_order

pytestmark = pytest.mark.unit


def test_no_claims_is_401(invoke: Invoke) -> None:
    response = invoke("support", api_event("support-get-order.json", claims=False))
    assert response["statusCode"] == 401
    assert "error" in body_of(response)


@pytest.mark.parametrize("groups", ["customer", "warehouse", "", "[support]", "support ops"])
def test_a_group_without_read_access_is_403(invoke: Invoke, groups: str) -> None:
    response = invoke("support", api_event("support-get-order.json", groups=groups))
    assert response["statusCode"] == 403
    assert body_of(response)["error"]["code"]


def test_unknown_order_is_404(invoke: Invoke) -> None:
    response = invoke("support", api_event("support-get-order.json"))
    assert response["statusCode"] == 404
    assert body_of(response)["error"]["code"] == "order_not_found"


@pytest.mark.parametrize("groups", ["support", "ops", "support,ops"])
def test_staff_read_an_order_in_the_store(invoke: Invoke, fakes: Fakes, groups: str) -> None:
    order_id = open_order(invoke)["order_id"]
    event = api_event("support-get-order.json", path_params={"order_id": order_id}, groups=groups)
    response = invoke("support", event)
    assert response["statusCode"] == 200, response["body"]
    view = body_of(response)
    assert view["order_id"] == order_id
    assert view["status"] == "pending_payment"
    assert view["email"] == "jane@example.com"
    assert [line["sku"] for line in view["items"]] == ["ORP-EBOOK"]
    assert view["stripe_session_id"] == fakes.orders.get(order_id).stripe_session_id  # type: ignore[union-attr]
    assert "eligibility" in view


def test_a_read_is_audited_with_the_gateway_request_and_the_callers_address(
    invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit line names who read which order, from where, in which API request (API
    Gateway's request id, the one every other line of the request carries)."""
    order_id = open_order(invoke)["order_id"]
    event = api_event("support-get-order.json", path_params={"order_id": order_id})
    with caplog.at_level("INFO", logger="bonestore.audit"):
        assert invoke("support", event)["statusCode"] == 200
    (record,) = [r for r in caplog.records if getattr(r, "audit", False)]
    assert record.__dict__["order_ids"] == [order_id]
    assert record.__dict__["action"] == "support.order.read"
    assert record.__dict__["request_id"] == event["requestContext"]["requestId"]
    assert record.__dict__["source_ip"] == event["requestContext"]["identity"]["sourceIp"]
    assert record.__dict__["actor"]["groups"] == ["support"]
