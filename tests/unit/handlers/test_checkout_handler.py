"""The checkout function's ``lambda_handler`` with API Gateway events and in-memory fakes
(products, orders with their stock, the payment gateway, Powertools idempotency)."""

from __future__ import annotations

import pytest

from tests.unit.handlers.conftest import Fakes, Invoke, api_event, body_of

pytestmark = pytest.mark.unit


def test_created_reserves_stock_and_opens_a_session(invoke: Invoke, fakes: Fakes) -> None:
    response = invoke("checkout", api_event("checkout-post.json"))
    assert response["statusCode"] == 201, response["body"]
    created = body_of(response)
    assert created["checkout_url"] == "https://pay.example/cs_fake_1"
    order = fakes.orders.get(created["order_id"])
    assert order is not None and order.status == "pending_payment"
    assert order.stripe_session_id == "cs_fake_1"
    assert fakes.orders.stock["TRUEOSTEO-120"] == [498, 2]
    (session,) = fakes.gateway.sessions
    assert session.order_id == created["order_id"]


def test_idempotency_key_replay_gets_the_first_answer(invoke: Invoke, fakes: Fakes) -> None:
    first = invoke("checkout", api_event("checkout-post.json"))
    again = invoke("checkout", api_event("checkout-post.json"))
    assert (first["statusCode"], again["statusCode"]) == (201, 201)
    assert body_of(again) == body_of(first)
    assert len(fakes.gateway.sessions) == 1 and len(fakes.orders.items) == 1
    assert fakes.orders.stock["TRUEOSTEO-120"] == [498, 2]


def test_the_same_key_with_another_cart_is_refused(invoke: Invoke, fakes: Fakes) -> None:
    assert invoke("checkout", api_event("checkout-post.json"))["statusCode"] == 201
    cart = body_of_request()
    cart["items"][0]["quantity"] = 3
    response = invoke("checkout", api_event("checkout-post.json", body=cart))
    assert response["statusCode"] == 409
    assert body_of(response)["error"]["code"] == "idempotency_key_reused"
    assert len(fakes.orders.items) == 1


def test_out_of_stock_is_409_naming_the_sku(invoke: Invoke, fakes: Fakes) -> None:
    fakes.orders.stock["TRUEOSTEO-120"] = [1, 0]
    response = invoke("checkout", api_event("checkout-post.json"))
    assert response["statusCode"] == 409
    error = body_of(response)["error"]
    assert error["code"] == "out_of_stock"
    assert {"sku": "TRUEOSTEO-120"} in error["details"]
    assert fakes.orders.items == {} and fakes.orders.stock["TRUEOSTEO-120"] == [1, 0]


def test_not_shippable_is_422_with_the_decisions(invoke: Invoke, fakes: Fakes) -> None:
    cart = body_of_request()
    cart["items"] = [{"sku": "RESTWELL-60", "quantity": 1}]
    cart["shipping_address"] = {
        "name": "Jana Roth",
        "line1": "Hauptstr. 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }
    response = invoke("checkout", api_event("checkout-post.json", body=cart))
    assert response["statusCode"] == 422
    error = body_of(response)["error"]
    assert error["code"] == "not_shippable"
    assert "no-melatonin-dhea" in str(error["details"])
    assert fakes.gateway.sessions == [] and fakes.orders.items == {}


def test_bad_body_is_400_and_nothing_is_reserved(invoke: Invoke, fakes: Fakes) -> None:
    response = invoke("checkout", api_event("checkout-post.json", body={"items": "lots"}))
    assert response["statusCode"] == 400
    assert "error" in body_of(response)
    assert fakes.gateway.sessions == [] and fakes.orders.items == {}


def body_of_request() -> dict:  # type: ignore[type-arg]
    return body_of(api_event("checkout-post.json"))  # type: ignore[no-any-return]
