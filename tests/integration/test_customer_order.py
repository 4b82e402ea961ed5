"""Address-first checkout end to end over the local stack: the order token, GET
/orders/{id}, no path to pay for an address or method the rules refuse, and the
customer's emails in the local outbox whose links open the right order."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bonestore_infra.bench_checkout import US_ADDRESS, Shop, http_json, shipping_address
from bonestore_infra.local_stack import LocalStack

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
CANADA = {"line1": "1 Rue", "city": "Ottawa", "state": "ON", "postal_code": "K1A 0B1",
          "country": "CA"}  # fmt: skip
CUBA = {"address": {"line1": "Calle 1", "city": "Havana", "country": "CU"}}


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


def checkout(shop: Shop, sku: str, **extra: Any) -> dict[str, Any]:
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US, **extra)
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def test_happy_path_paid_and_the_order_page_answers_with_the_token(shop: Shop) -> None:
    sku = shop.clone("BONE-APPETIT-BOOK", 5)
    body = checkout(shop, sku, shipping_method="standard", email="ann@example.com")
    assert body["shipping_method"]["id"] == "standard"
    token = body["order_token"]
    assert len(token) >= 22 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    stored = shop.order(body["order_id"])
    assert token not in str(stored)  # stored only as a hash
    status, pending = shop.customer_order(body["order_id"], token)
    assert status == 200 and pending["status"] == "pending_payment"

    done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
    assert done == 200 and result["webhook"]["ok"], result
    status, order = shop.customer_order(body["order_id"], token)
    assert status == 200, order
    assert order["status"] == "paid"
    assert "tracking number" in order["status_message"]
    assert order["shipping_address"] == body["shipping_address"]
    assert order["shipping_method"] == body["shipping_method"]
    assert order["items"][0]["sku"] == sku and order["shipments"] == []
    assert order["amount_total"]["amount"] == (
        body["amount_subtotal"]["amount"] + body["shipping_method"]["price"]["amount"]
    )


def test_unknown_ids_and_wrong_or_missing_tokens_are_the_same_404(shop: Shop) -> None:
    body = checkout(shop, "BONE-APPETIT-BOOK")
    other_last = "B" if body["order_token"].endswith("A") else "A"
    answers = [
        shop.customer_order(body["order_id"], None),
        shop.customer_order(body["order_id"], "wrong"),
        # One character changed (never to itself: a token may already end in "A").
        shop.customer_order(body["order_id"], body["order_token"][:-1] + other_last),
        shop.customer_order("ord_0000000000000000000000000000", body["order_token"]),
        shop.customer_order("not-an-order", body["order_token"]),
        shop.customer_order(body["order_id"], "x" * 5000),
    ]
    assert {status for status, _ in answers} == {404}
    assert len({str(answer) for _, answer in answers}) == 1
    assert answers[0][1]["error"]["code"] == "order_not_found"


def test_a_changed_address_at_payment_is_refused_and_never_paid(shop: Shop) -> None:
    body = checkout(shop, "BONE-APPETIT-BOOK")
    for other in (
        {**US_ADDRESS, "address": {**US_ADDRESS["address"], "line1": "PO Box 12"}},
        {"name": "Jane Doe", "address": {"line1": "1 Rue", "city": "Ottawa", "state": "ON",
                                         "postal_code": "K1A 0B1", "country": "CA"}},
        {"name": "Jane Doe", "address": {**US_ADDRESS["address"], "state": "HI",
                                         "postal_code": "96813"}},
    ):  # fmt: skip
        status, refused = shop.complete(body["stripe_session_id"], shipping_details=other)
        assert status == 400, refused
        assert refused["error"]["code"] == "shipping_address_fixed"
    assert shop.order(body["order_id"])["status"] == "pending_payment"
    assert not [
        e
        for e in shop.events("checkout.session.completed")
        if e["event"]["data"]["object"]["id"] == body["stripe_session_id"]
    ]


def test_a_method_the_rules_do_not_offer_is_refused_before_payment(shop: Shop) -> None:
    po_box = shipping_address({**US, "line1": "PO Box 12"})
    status, refused = shop.checkout(
        [{"sku": "DENSERCISE-DVD", "quantity": 1}],
        shipping_address=po_box,
        shipping_method="express",
    )
    assert status == 422, refused
    assert refused["error"]["code"] == "shipping_method_unavailable"
    assert "PO box" in refused["error"]["message"]
    apo = shipping_address(
        {"country": "US", "subdivision": "AE", "postal_code": "09012", "city": "APO",
         "line1": "Unit 2050 Box 4190"}
    )  # fmt: skip
    status, refused = shop.checkout(
        [{"sku": "DENSERCISE-DVD", "quantity": 1}], shipping_address=apo, shipping_method="express"
    )
    assert status == 422 and refused["error"]["code"] == "shipping_method_unavailable"
    status, standard = shop.checkout(
        [{"sku": "DENSERCISE-DVD", "quantity": 1}], shipping_address=apo
    )
    assert status == 201 and standard["shipping_method"]["id"] == "standard"


def test_a_forged_completion_for_another_address_or_price_is_held(shop: Shop) -> None:
    # The emulator refuses another address, so forge what a lying provider would say: the
    # webhook event for another country (signed, as it must be) never makes the order paid.
    import json

    from tests.integration.test_webhook import send

    body = checkout(shop, "BONE-APPETIT-BOOK")
    done, result = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
    assert done == 200
    order_id = body["order_id"]
    # A second, forged order of the same cart, completed as if shipped to Canada for less.
    other = checkout(shop, "BONE-APPETIT-BOOK")
    session = json.loads(json.dumps(result["session"]))
    session.update(
        id=other["stripe_session_id"],
        client_reference_id=other["order_id"],
        metadata={"order_id": other["order_id"]},
        collected_information={"shipping_details": {"name": "Jane Doe", "address": CANADA}},
    )
    status, _ = send(
        shop,
        {"id": f"evt_forged_{other['order_id']}", "type": "checkout.session.completed",
         "data": {"object": session}},
    )  # fmt: skip
    assert status == 200
    forged = shop.order(other["order_id"])
    assert forged["status"] == "held"
    assert "shipping_address_mismatch" in {r["code"] for r in forged["hold_reasons"]}
    assert shop.order(order_id)["status"] == "paid"


def _outbox(shop: Shop, order_id: str) -> list[dict[str, Any]]:
    status, box = http_json("GET", f"{shop.api}/_dev/outbox.json")
    assert status == 200
    return [m for m in box["messages"] if order_id in m["subject"]]


def _link_credentials(message: dict[str, Any]) -> tuple[str, str]:
    link = next(link for link in message["links"] if "/order#" in link)
    fragment = parse_qs(urlsplit(link).fragment)
    return fragment["id"][0], fragment["token"][0]


def test_held_order_page_and_the_emails_of_a_paid_and_a_held_order(shop: Shop) -> None:
    paid = checkout(shop, "BONE-APPETIT-BOOK", email="paid@example.com")
    held = checkout(shop, "BONE-APPETIT-BOOK", email="held@example.com")
    shop.complete(paid["stripe_session_id"], shipping_details=US_ADDRESS)
    shop.complete(held["stripe_session_id"], shipping_details=US_ADDRESS, customer_details=CUBA)

    status, order = shop.customer_order(held["order_id"], held["order_token"])
    assert status == 200 and order["status"] == "held"
    assert "Cuba" in order["status_message"] or "embargo" in order["status_message"].lower()
    assert "refund" in order["status_message"]

    for body, kind, subject in (
        (paid, "paid", "payment received"),
        (held, "held", "is on hold"),
    ):
        (message,) = _outbox(shop, body["order_id"])
        assert subject in message["subject"]
        order_id, token = _link_credentials(message)
        assert order_id == body["order_id"]
        status, opened = shop.customer_order(order_id, token)
        assert status == 200 and opened["status"] == kind
        events = [e for e in shop.order(body["order_id"])["events"] if e["type"] == "email_sent"]
        assert len(events) == 1
    # A redelivered event sends nothing more.
    for entry in shop.events("checkout.session.completed"):
        if entry["event"]["data"]["object"]["id"] == paid["stripe_session_id"]:
            http_json("POST", f"{shop.stripe}/_dev/events/{entry['event']['id']}/resend", {})
    assert len(_outbox(shop, paid["order_id"])) == 1
