"""An email to one customer, as the message builders make it and any sender sends it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmailMessage:
    """One message to one customer: a subject, a plain-text body and the same in HTML."""

    to: str
    subject: str
    text: str
    html: str
    # What the message is about, for logs and metrics ("order_paid"); never customer data.
    kind: str = "notification"
