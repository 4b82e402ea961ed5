"""Emails through the embedded SES: the template's sender is verified, the outbox shows them."""

from __future__ import annotations

from typing import Any

import pytest

from bonestore.adapters.email import SesEmailSender
from bonestore.domain.errors import UpstreamUnavailable
from bonestore.service import notifications as n
from tests.helpers import Http

pytestmark = pytest.mark.integration


def test_sent_emails_reach_the_local_outbox_with_working_links(local_stack: Any, api: Http) -> None:
    from bonestore.api.deps import email_sender
    from bonestore.config import get_settings

    settings = get_settings()
    assert settings.email_sender == "orders@bonestore.example"  # the template's SenderEmail
    assert settings.storefront_url == local_stack.api_url
    notice = n.OrderNotice(
        order_id="ord_outbox_1",
        order_token="secret-token-1",
        email="ada@example.com",
        currency="USD",
        amount_total=4995,
        items=(n.NoticeLine("TrueOsteo", 1, 4995),),
        ship_to=n.ShipTo("Ada", "Springfield", "United States"),
    )
    n.notify_order_paid(email_sender(), notice, settings.storefront_url)
    n.notify_order_held(
        email_sender(),
        n.OrderNotice("ord_outbox_2", "secret-token-2", "bo@example.com", "USD", 100),
        ["We can't accept orders billed to Cuba."],
        settings.storefront_url,
        will_refund=False,
    )
    messages = api.get("/_dev/outbox.json").json()["messages"]
    paid = next(m for m in messages if m["subject"] == "Order ord_outbox_1: payment received")
    assert paid["to"] == ["ada@example.com"] and paid["from"] == "orders@bonestore.example"
    link = f"{local_stack.api_url}/order#id=ord_outbox_1&token=secret-token-1"
    assert link in paid["links"]
    held = next(m for m in messages if m["subject"] == "Order ord_outbox_2 is on hold")
    assert "billed to Cuba" in held["body"]
    page = api.get("/order")  # what a browser requests for the link (no fragment)
    assert page.status == 200 and b"order" in page.body.lower()
    outbox_page = api.get("/_dev/outbox")
    assert outbox_page.status == 200
    assert outbox_page.headers["Content-Type"].startswith("text/html")
    assert b"Order ord_outbox_2 is on hold" in outbox_page.body


def test_an_unverified_sender_is_refused_as_ses_would(local_stack: Any) -> None:
    sender = SesEmailSender("someone-else@elsewhere.example")
    from bonestore.domain.email import EmailMessage

    with pytest.raises(UpstreamUnavailable):
        sender.send(EmailMessage("ada@example.com", "Hi", "t", "<p>h</p>"))


def test_email_links_come_from_the_storefront_url_parameter_as_in_aws(local_stack: Any) -> None:
    """The functions that send email read the stack's SSM parameter
    (bonestore.adapters.parameters), which the embedded AWS holds with this local
    storefront."""
    import boto3

    from bonestore.api.deps import email_storefront_url
    from bonestore.config import get_settings

    name = get_settings().storefront_url_parameter
    assert name is not None and name.endswith("/storefront-url")
    stored = boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    assert stored == local_stack.api_url == email_storefront_url()
