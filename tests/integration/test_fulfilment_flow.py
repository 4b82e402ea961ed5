"""Fulfilment through `bonestore serve`'s stack only: ``OrderPaid`` goes EventBridge ->
FulfilmentQueue -> FulfilmentFunction (the local SQS event source), a rule changed
between payment and fulfilment holds the order, a permitted one is handed over, shipped
and shown to the customer (order page and email), and a message fulfilment cannot
process ends in the dead-letter queue after the queue's maxReceiveCount.

Nothing here calls a function directly: orders are paid in the Stripe emulator, rules
are changed in the stack's ruleset file (``StackConfig.ruleset_path``, ``bonestore
serve --ruleset``), and the fulfilment mapping is paused and resumed as ops would
disable and enable an event source mapping.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bonestore_infra.bench_checkout import US_ADDRESS, Shop, http_json
from bonestore_infra.local_stack import LocalStack
from tests.helpers import Http, eventually, ruleset_restored
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration

US = {"country": "US", "subdivision": "IL", "postal_code": "62701"}
MAPPING = "FulfilmentOrderPaidMapping"


@pytest.fixture(scope="module")
def shop(local_stack: LocalStack) -> Shop:
    return Shop(local_stack)


@contextmanager
def subscribed(stack: LocalStack, detail_type: str) -> Iterator[Callable[[], list[Any]]]:
    """A queue subscribed to ``detail_type`` on the order bus (as the warehouse would be);
    yields a reader of the events delivered so far."""
    assert stack.aws is not None
    events, sqs = stack.aws.client("events"), stack.aws.client("sqs")
    name = f"test-{detail_type}-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = stack.resolver.ref("OrderEventBus")
    events.put_rule(
        Name=name, EventBusName=bus, EventPattern=json.dumps({"detail-type": [detail_type]})
    )
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "test", "Arn": arn}])
    seen: list[Any] = []

    def read() -> list[Any]:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        seen.extend(json.loads(m["Body"]) for m in answer.get("Messages", []))
        return seen

    try:
        yield read
    finally:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=["test"])
        events.delete_rule(Name=name, EventBusName=bus)
        sqs.delete_queue(QueueUrl=url)


def pay(shop: Shop, sku: str, email: str) -> dict[str, Any]:
    status, body = shop.checkout([{"sku": sku, "quantity": 1}], US, email=email)
    assert status == 201, body
    done, _ = shop.complete(body["stripe_session_id"], shipping_details=US_ADDRESS)
    assert done == 200
    assert shop.order(body["order_id"])["status"] == "paid"
    return body  # type: ignore[no-any-return]


def event_types(shop: Shop, order_id: str) -> list[str]:
    return [e["type"] for e in shop.order(order_id)["events"]]


def emails_of(shop: Shop, order_id: str, subject: str) -> list[dict[str, Any]]:
    status, box = http_json("GET", f"{shop.api}/_dev/outbox.json")
    assert status == 200
    return [m for m in box["messages"] if m["subject"] == f"Order {order_id} {subject}"]


def shipped_emails(shop: Shop, order_id: str) -> list[dict[str, Any]]:
    return emails_of(shop, order_id, "has shipped")


def test_a_rule_changed_before_fulfilment_holds_and_a_permitted_order_ships(
    local_stack: LocalStack, shop: Shop, api: Http
) -> None:
    refused_sku = shop.clone("BONE-APPETIT-BOOK", 5)
    permitted_sku = shop.clone("BONE-APPETIT-BOOK", 5)
    rule_id = f"stop-{refused_sku.lower()}"
    rule = f"""
- id: {rule_id}
  effect: forbid
  when:
    destination: {{countries: [US]}}
    product: {{skus: [{refused_sku}]}}
  code: not_shipped_here
  message: We can't ship this book to {{country_name}} any more.
  note: A recall, decided after the order was paid.
  source: test recall notice
"""
    fulfilment = local_stack.event_sources[MAPPING]
    with (
        subscribed(local_stack, "OrderReadyToShip") as ready_to_ship,
        ruleset_restored(local_stack) as add_rule,
    ):
        # Ops disable the mapping: the paid orders wait in FulfilmentQueue meanwhile.
        fulfilment.pause()
        try:
            refused = pay(shop, refused_sku, "refused@example.com")
            permitted = pay(shop, permitted_sku, "permitted@example.com")
            add_rule(rule)  # the recall lands after payment, before fulfilment
        finally:
            fulfilment.resume()
        held = eventually(
            lambda: (order := shop.order(refused["order_id"]))["status"] == "held" and order,
            what="the hold at fulfilment",
        )
        eventually(
            lambda: "handed_to_warehouse" in event_types(shop, permitted["order_id"]),
            what="the hand-over",
        )
        ready = eventually(
            lambda: [
                e for e in ready_to_ship() if e["detail"]["order_id"] == permitted["order_id"]
            ],
            what="OrderReadyToShip",
        )
        assert not [e for e in ready_to_ship() if e["detail"]["order_id"] == refused["order_id"]]
        # Support reads the rule's source from the ruleset in force (so while it still is).
        support = api.get(f"/support/orders/{refused['order_id']}", token=staff_token("support"))
        assert support.status == 200
        assert support.json()["hold"]["reasons"][0]["source"] == "test recall notice"
    assert [e["detail-type"] for e in ready] == ["OrderReadyToShip"]

    # Held, with the rule that changed named, for support and in the customer's words.
    assert [r["rule_id"] for r in held["hold_reasons"]] == [rule_id]
    held_event = next(e for e in held["events"] if e["type"] == "held_at_fulfilment")
    assert held_event["detail"]["rule_ids"] == [rule_id]
    status, page = shop.customer_order(refused["order_id"], refused["order_token"])
    assert status == 200 and page["status"] == "held"
    assert "can't ship this book to United States any more" in page["status_message"]
    (held_email,) = emails_of(shop, refused["order_id"], "is on hold")
    assert "ship this book to United States any more" in held_email["body"]  # HTML-escaped
    held_link = next(link for link in held_email["links"] if "/order#" in link)
    assert f"id={refused['order_id']}&token=" in held_link

    # Handed over once; the warehouse ships it; the customer sees the tracking.
    assert event_types(shop, permitted["order_id"]).count("handed_to_warehouse") == 1
    warehouse = staff_token("warehouse", username="wes-warehouse")
    shipment = {"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}
    path = f"/admin/orders/{permitted['order_id']}/shipments"
    for _ in range(2):  # the scanner's retry changes nothing and sends no second email
        shipped = api.post(path, shipment, token=warehouse)
        assert shipped.status == 200, shipped.body
        assert shipped.json()["status"] == "fulfilled"
    status, page = shop.customer_order(permitted["order_id"], permitted["order_token"])
    assert status == 200 and page["status"] == "fulfilled"
    assert [(s["carrier"], s["tracking_number"]) for s in page["shipments"]] == [
        ("UPS", "1Z999AA10123456784")
    ]
    assert page["shipments"][0]["at"].startswith(time.strftime("%Y-", time.gmtime()))
    assert "UPS" in page["status_message"] and "1Z999AA10123456784" in page["status_message"]
    assert "shipped" in page["status_message"].lower()

    (email,) = shipped_emails(shop, permitted["order_id"])
    assert email["to"] == ["permitted@example.com"]
    assert "UPS" in email["body"] and "1Z999AA10123456784" in email["body"]
    link = next(link for link in email["links"] if "/order#" in link)
    assert link.startswith(f"{local_stack.api_url}/order#")
    fragment = parse_qs(urlsplit(link).fragment)
    status, opened = shop.customer_order(fragment["id"][0], fragment["token"][0])
    assert status == 200 and opened["order_id"] == permitted["order_id"]
    assert opened["shipments"] == page["shipments"]
    assert shipped_emails(shop, refused["order_id"]) == []
    # A held order does not ship; a redelivered OrderPaid hands nothing over twice.
    refused_path = f"/admin/orders/{refused['order_id']}/shipments"
    assert api.post(refused_path, shipment, token=warehouse).status == 409
    publish_order_paid(local_stack, permitted["order_id"])
    wait_until_drained(local_stack)
    assert event_types(shop, permitted["order_id"]).count("handed_to_warehouse") == 1
    assert shop.order(permitted["order_id"])["status"] == "fulfilled"


def publish_order_paid(stack: LocalStack, order_id: str) -> None:
    """``OrderPaid`` on the order bus, as the webhook publishes it."""
    assert stack.aws is not None
    answer = stack.aws.client("events").put_events(
        Entries=[
            {
                "Source": "bonestore.orders",
                "DetailType": "OrderPaid",
                "Detail": json.dumps({"order_id": order_id}),
                "EventBusName": stack.resolver.ref("OrderEventBus"),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def wait_until_drained(stack: LocalStack) -> None:
    """FulfilmentQueue empty, nothing in flight: every message so far was processed."""
    assert stack.aws is not None
    sqs = stack.aws.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def drained() -> bool:
        url = stack.resolver.physical["FulfilmentQueue"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return all(counts[name] == "0" for name in names)

    eventually(drained, what="an empty FulfilmentQueue")


def test_a_message_fulfilment_cannot_process_ends_in_the_dead_letter_queue(
    local_stack: LocalStack, shop: Shop
) -> None:
    assert local_stack.aws is not None
    sqs = local_stack.aws.client("sqs")
    order_id = f"ord_poison{uuid.uuid4().hex[:12]}"
    # An order record fulfilment cannot read (no status): every attempt raises.
    shop.dynamodb.put_item(TableName=shop.orders_table, Item={"order_id": {"S": order_id}})
    publish_order_paid(local_stack, order_id)
    dead_letters = local_stack.resolver.physical["FulfilmentDeadLetterQueue"]
    redrive = json.loads(
        sqs.get_queue_attributes(
            QueueUrl=local_stack.resolver.physical["FulfilmentQueue"],
            AttributeNames=["RedrivePolicy"],
        )["Attributes"]["RedrivePolicy"]
    )
    assert redrive["maxReceiveCount"] == 5  # the template's
    assert (
        redrive["deadLetterTargetArn"]
        == local_stack.resolver.physical["FulfilmentDeadLetterQueue.Arn"]
    )

    def dead_letter() -> dict[str, Any] | None:
        received = sqs.receive_message(
            QueueUrl=dead_letters, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        for message in received.get("Messages", []):
            if json.loads(message["Body"])["detail"]["order_id"] == order_id:
                sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=message["ReceiptHandle"])
                return message  # type: ignore[no-any-return]
        return None

    message = eventually(dead_letter, timeout=60, what="the dead letter")
    # Received by fulfilment maxReceiveCount times (each failed), then moved.
    assert int(message["Attributes"]["ApproximateReceiveCount"]) > redrive["maxReceiveCount"]
    body = json.loads(message["Body"])
    assert body["detail-type"] == "OrderPaid" and body["source"] == "bonestore.orders"
    shop.dynamodb.delete_item(TableName=shop.orders_table, Key={"order_id": {"S": order_id}})


def test_ten_shipment_requests_at_once_fulfil_the_order_once_and_send_one_email(
    shop: Shop, api: Http
) -> None:
    """The scanner fires the same shipment ten times at once: one move, one email (the
    send is claimed on the order before it goes)."""
    from concurrent.futures import ThreadPoolExecutor

    sku = shop.clone("BONE-APPETIT-BOOK", 5)
    paid = pay(shop, sku, f"race-ship-{uuid.uuid4().hex[:8]}@example.com")
    warehouse = staff_token("warehouse", username="wes-warehouse")
    path = f"/admin/orders/{paid['order_id']}/shipments"
    shipment = {"carrier": "UPS", "tracking_number": "1Z999AA10123456799"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: api.post(path, shipment, token=warehouse), range(10)))
    assert {a.status for a in answers} == {200}, [a.body for a in answers if a.status != 200]
    assert {a.json()["status"] for a in answers} == {"fulfilled"}
    order = shop.order(paid["order_id"])
    moved = [
        e for e in order["events"] if e["type"] == "shipped" and not e["detail"].get("ignored")
    ]
    assert len(moved) == 1 and len(order["shipments"]) == 1  # the others only recorded
    assert len(shipped_emails(shop, paid["order_id"])) == 1
