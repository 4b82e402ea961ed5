"""The admin function's ``lambda_handler``: group policy from the Cognito claims, and a
product PUT against the in-memory product store."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.unit.handlers.conftest import Fakes, Invoke, api_event, body_of, open_order

pytestmark = pytest.mark.unit


def test_support_may_not_put_a_product(invoke: Invoke, fakes: Fakes) -> None:
    response = invoke("admin", api_event("admin-put-product.json", groups="support"))
    assert response["statusCode"] == 403
    assert body_of(response)["error"]["code"]
    assert "BONE-BROTH-BOOK" not in fakes.products.items


def test_no_claims_is_401_before_the_body_is_read(invoke: Invoke) -> None:
    event = api_event("admin-put-product.json", claims=False, body="{not json")
    assert invoke("admin", event)["statusCode"] == 401


def test_ops_create_then_replace_a_product(invoke: Invoke, fakes: Fakes) -> None:
    created = invoke("admin", api_event("admin-put-product.json"))
    assert created["statusCode"] == 201, created["body"]
    view = body_of(created)
    assert (view["sku"], view["stock"], view["available"], view["reserved"]) == (
        "BONE-BROTH-BOOK",
        25,
        25,
        0,
    )
    assert fakes.products.get("BONE-BROTH-BOOK") is not None
    product = json.loads(api_event("admin-put-product.json")["body"])
    replaced = invoke("admin", api_event("admin-put-product.json", body={**product, "stock": 40}))
    assert replaced["statusCode"] == 200
    assert body_of(replaced)["stock"] == 40


def test_unknown_ingredient_is_422_and_not_stored(invoke: Invoke, fakes: Fakes) -> None:
    product = {
        "name": "Mystery capsules",
        "kind": "physical",
        "category": "supplement",
        "price": {"amount": 1500, "currency": "USD"},
        "stock": 10,
        "attributes": {"supply_days": 30, "ingredients": {"unobtainium": {}}},
    }
    event = api_event("admin-put-product.json", path_params={"sku": "MYSTERY-30"}, body=product)
    response = invoke("admin", event)
    assert response["statusCode"] == 422, response["body"]
    error = body_of(response)["error"]
    assert error["code"] == "unknown_ingredient"
    assert {"field": "attributes.ingredients", "ingredient": "unobtainium"} in error["details"]
    assert "MYSTERY-30" not in fakes.products.items


def test_path_and_body_sku_must_agree(invoke: Invoke, fakes: Fakes) -> None:
    product = json.loads(api_event("admin-put-product.json")["body"])
    event = api_event("admin-put-product.json", body={**product, "sku": "OTHER-SKU"})
    response = invoke("admin", event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "sku_mismatch"


def paid_physical_order(invoke: Invoke, fakes: Fakes) -> dict[str, Any]:
    """A checkout of one physical item, then paid (as the webhook would leave it)."""
    from bonestore.domain.order import OrderEvent

    created = open_order(invoke, [{"sku": "BONE-APPETIT-BOOK", "quantity": 1}])
    order = fakes.orders.get(created["order_id"])
    assert order is not None
    assert fakes.orders.transition(order, "paid", event=OrderEvent("paid_in_test")) is not None
    return created


def shipment_event(order_id: str, **changes: Any) -> dict[str, Any]:
    body = {"carrier": "UPS", "tracking_number": "1Z999AA10123456784", **changes}
    return api_event("admin-post-shipment.json", path_params={"order_id": order_id}, body=body)


def test_a_shipment_fulfils_the_order_and_emails_tracking_once(
    invoke: Invoke, fakes: Fakes
) -> None:
    created = paid_physical_order(invoke, fakes)
    order_id = created["order_id"]
    first = invoke("admin", shipment_event(order_id))
    assert first["statusCode"] == 200, first["body"]
    assert body_of(first)["status"] == "fulfilled"
    # The warehouse's scanner retries (a timeout, a double tap): same answer, no 2nd email.
    for _ in range(3):
        again = invoke("admin", shipment_event(order_id))
        assert again["statusCode"] == 200, again["body"]
        assert body_of(again)["status"] == "fulfilled"
    shipped = [m for m in fakes.emails.sent if m.kind == "order_shipped"]
    assert len(shipped) == 1
    message = shipped[0]
    assert message.to == "jane@example.com"
    assert "UPS" in message.text and "1Z999AA10123456784" in message.text
    token = quote(created["order_token"], safe="")
    assert f"/order#id={order_id}&token={token}" in message.text
    assert f"/order#id={order_id}&amp;token={token}" in message.html
    order = fakes.orders.get(order_id)
    assert order is not None
    sent = [e.detail for e in order.events if e.type == "email_sent"]
    assert [d["kind"] for d in sent] == ["order_shipped"]


def test_a_failed_shipped_email_is_sent_on_the_retry(invoke: Invoke, fakes: Fakes) -> None:
    from bonestore.domain.errors import UpstreamUnavailable

    order_id = paid_physical_order(invoke, fakes)["order_id"]
    fakes.emails.fail = UpstreamUnavailable("SES is throttling")
    first = invoke("admin", shipment_event(order_id))
    assert first["statusCode"] == 200, first["body"]  # the parcel left: that stands
    assert fakes.emails.sent == []
    fakes.emails.fail = None
    assert invoke("admin", shipment_event(order_id))["statusCode"] == 200
    assert [m.kind for m in fakes.emails.sent] == ["order_shipped"]
    order = fakes.orders.get(order_id)
    assert order is not None
    assert [e.type for e in order.events if e.type.startswith("email_")] == [
        "email_failed",
        "email_sent",
    ]


def test_another_tracking_number_on_a_fulfilled_order_is_409_and_sends_nothing(
    invoke: Invoke, fakes: Fakes
) -> None:
    order_id = paid_physical_order(invoke, fakes)["order_id"]
    assert invoke("admin", shipment_event(order_id))["statusCode"] == 200
    other = invoke("admin", shipment_event(order_id, tracking_number="1Z999AA10000000000"))
    assert other["statusCode"] == 409
    assert body_of(other)["error"]["code"] == "invalid_transition"
    assert len(fakes.emails.sent) == 1


def test_support_may_not_record_a_shipment(invoke: Invoke, fakes: Fakes) -> None:
    order_id = paid_physical_order(invoke, fakes)["order_id"]
    event = shipment_event(order_id)
    event["requestContext"]["authorizer"]["claims"]["cognito:groups"] = "support"
    assert invoke("admin", event)["statusCode"] == 403
    assert fakes.emails.sent == []
    assert fakes.orders.get(order_id).status == "paid"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "sku",
    ["a", "-AB", "AB C", " AB", "AB\n", "A" * 65, "AB_C", "ÅB", "\ufb00-1", "\u212a-1"],
    ids=[
        "one-char",
        "leading-dash",
        "space",
        "leading-space",
        "newline",
        "65-chars",
        "us",
        "non-ascii",
        "ligature-upper-cases-to-ascii",
        "kelvin-sign",
    ],
)
def test_a_path_that_names_no_sku_is_400_invalid_sku_and_nothing_is_stored(
    invoke: Invoke, fakes: Fakes, sku: str
) -> None:
    before = dict(fakes.products.items)
    put = api_event("admin-put-product.json", path_params={"sku": sku})
    delete = {**put, "httpMethod": "DELETE", "body": None}
    for event in (put, delete):
        response = invoke("admin", event)
        assert response["statusCode"] == 400, (event["httpMethod"], response["body"])
        error = body_of(response)["error"]
        assert error["code"] == "invalid_sku"
        assert error["details"][0]["field"] == "sku"
    assert fakes.products.items == before


def test_a_lower_case_path_sku_names_the_upper_case_product(invoke: Invoke, fakes: Fakes) -> None:
    product = json.loads(api_event("admin-put-product.json")["body"])
    event = api_event(
        "admin-put-product.json", path_params={"sku": "bone-broth-book"}, body=product
    )
    response = invoke("admin", event)
    assert response["statusCode"] == 201, response["body"]
    assert body_of(response)["sku"] == "BONE-BROTH-BOOK"
    assert fakes.products.get("BONE-BROTH-BOOK") is not None


def test_the_path_pattern_is_the_catalogs_sku_pattern_in_either_case() -> None:
    """The admin checks a path against its documented pattern only, then upper-cases it:
    that is a catalog SKU only while the two patterns say the same thing."""
    from bonestore.domain.catalog import SKU_PATTERN
    from tests.unit.handlers.conftest import handler_module

    admin = handler_module("admin")
    assert SKU_PATTERN.replace("A-Z", "A-Za-z") == admin.PATH_SKU_PATTERN
