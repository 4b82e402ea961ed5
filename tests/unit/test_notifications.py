"""Order emails: what each says, its link to the order page, and the SES adapter's request."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bonestore.adapters.email import SesEmailSender
from bonestore.domain.email import EmailMessage
from bonestore.domain.errors import UpstreamUnavailable
from bonestore.service import notifications as n
from tests.fakes import RecordingEmailSender

pytestmark = pytest.mark.unit

SHOP = "https://shop.example"
NOTICE = n.OrderNotice(
    order_id="ord_123",
    order_token="tok/with+odd&chars",
    email="jane.doe@example.com",
    currency="USD",
    amount_total=8485,
    items=(n.NoticeLine("Bone Appetit recipe book, print", 1, 2995),),
    ship_to=n.ShipTo("Jane <Doe>", "Toronto", "Canada"),
    shipping_method="Standard",
)


def test_link_carries_id_and_token_in_the_fragment_only() -> None:
    link = n.order_link(SHOP + "/", "ord_123", "tok/with+odd&chars")
    assert link == "https://shop.example/order#id=ord_123&token=tok%2Fwith%2Bodd%26chars"
    assert "?" not in link  # nothing in the query string, which servers log


def test_paid_email_says_what_happens_next_in_text_and_html() -> None:
    message = n.order_paid_email(NOTICE, SHOP)
    assert message.to == "jane.doe@example.com" and message.kind == "order_paid"
    assert message.subject == "Order ord_123: payment received"
    assert "tracking number" in message.text and "tracking number" in message.html
    assert "1 × Bone Appetit recipe book, print: $29.95" in message.text
    assert "Total: $84.85" in message.text
    link = n.order_link(SHOP, "ord_123", NOTICE.order_token)
    assert f"See your order: {link}" in message.text
    assert f'href="{link.replace("&", "&amp;")}"' in message.html
    assert "Jane &lt;Doe&gt;" in message.html and "<Doe>" not in message.html  # escaped
    assert "style=" not in message.html and "<script" not in message.html


def test_digital_only_paid_email_does_not_promise_a_parcel() -> None:
    digital = n.OrderNotice("ord_9", "t", "a@b.co", "USD", 4700, ship_to=None)
    message = n.order_paid_email(digital, SHOP)
    # No download link exists to promise: access comes in its own email (after OrderPaid).
    assert "access to your digital products" in message.text and "download" not in message.text
    assert "Ships to" not in message.text and "tracking" not in message.text


def test_an_embargoed_held_email_does_not_offer_to_ship_after_all() -> None:
    """A sanction is not something a review lifts: the customer is told of a refund, and
    a digital-only order is not one "we cannot ship"."""
    digital = n.OrderNotice("ord_9", "t", "a@b.co", "USD", 4700, ship_to=None)
    reason = "US sanctions don't allow us to sell anything to Cuba."
    message = n.order_held_email(digital, [reason], SHOP, will_refund=False, embargoed=True)
    assert "ship it after all" not in message.text and "refund your payment in full" in message.text
    assert "cannot complete your order" in message.text and "cannot ship" not in message.text
    reviewed = n.order_held_email(NOTICE, ["Some reason."], SHOP, will_refund=False)
    assert "ship it after all" in reviewed.text and "cannot ship your order yet" in reviewed.text


@pytest.mark.parametrize("will_refund", [True, False])
def test_held_email_gives_the_rules_reason_once_and_what_we_will_do(will_refund: bool) -> None:
    reason = "We can't accept orders billed to Cuba (US sanctions)."
    message = n.order_held_email(NOTICE, [reason, reason], SHOP, will_refund=will_refund)
    assert message.text.count(reason) == 1
    assert ("refund your payment in full" in message.text) is will_refund
    assert ("support team is reviewing" in message.text) is not will_refund
    assert message.subject == "Order ord_123 is on hold"


def test_refunded_and_shipped_emails() -> None:
    refunded = n.order_refunded_email(NOTICE, 8485, SHOP)
    assert refunded.subject == "Order ord_123: refunded" and "We refunded $84.85" in refunded.text
    shipped = n.order_shipped_email(NOTICE, "UPS", "1Z999AA10123456784", SHOP)
    assert "UPS" in shipped.text and "Tracking number: 1Z999AA10123456784" in shipped.html


def test_money_formats() -> None:
    assert n.format_money(123456, "USD") == "$1,234.56"
    assert n.format_money(500, "JPY") == "¥500"
    assert n.format_money(1005, "CHF") == "10.05 CHF"


def test_notify_functions_send_what_they_build() -> None:
    sender = RecordingEmailSender()
    n.notify_order_paid(sender, NOTICE, SHOP)
    n.notify_order_held(sender, NOTICE, ["Reason."], SHOP, will_refund=False)
    n.notify_order_refunded(sender, NOTICE, 100, SHOP)
    n.notify_order_shipped(sender, NOTICE, "UPS", "1Z", SHOP)
    assert [m.kind for m in sender.sent] == [
        "order_paid",
        "order_held",
        "order_refunded",
        "order_shipped",
    ]


class FakeSes:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = fail

    def send_email(self, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.requests.append(request)
        if self.fail:
            raise ClientError({"Error": {"Code": "MessageRejected"}}, "SendEmail")
        return {"MessageId": "m-1"}


def test_ses_adapter_sends_simple_content_and_masks_the_recipient_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    made: list[FakeSes] = []

    def factory() -> FakeSes:
        made.append(FakeSes())
        return made[-1]

    sender = SesEmailSender("orders@shop.example", client_factory=factory)
    assert made == []  # no client until the first send
    message = EmailMessage("jane.doe@example.com", "Hi", "text", "<p>html</p>", kind="order_paid")
    with caplog.at_level(logging.INFO, logger="bonestore.email"):
        assert sender.send(message) == "m-1"
        sender.send(message)
    assert len(made) == 1
    request = made[0].requests[0]
    assert request["FromEmailAddress"] == "orders@shop.example"
    assert request["Destination"] == {"ToAddresses": ["jane.doe@example.com"]}
    simple = request["Content"]["Simple"]
    assert simple["Subject"]["Data"] == "Hi"
    assert simple["Body"]["Text"]["Data"] == "text"
    assert simple["Body"]["Html"]["Data"] == "<p>html</p>"
    assert "jane.doe@example.com" not in caplog.text
    assert all(getattr(r, "to", None) == "j***@e***.com" for r in caplog.records)


def test_ses_rejection_is_an_upstream_error_without_the_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = SesEmailSender("orders@shop.example", client_factory=lambda: FakeSes(fail=True))
    with (
        caplog.at_level(logging.INFO, logger="bonestore.email"),
        pytest.raises(UpstreamUnavailable),
    ):
        sender.send(EmailMessage("jane.doe@example.com", "Hi", "t", "h"))
    assert "jane.doe" not in caplog.text
    assert caplog.records[-1].error == "MessageRejected"  # type: ignore[attr-defined]
