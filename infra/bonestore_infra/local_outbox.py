"""The local email outbox: what the functions sent through the embedded SES (moto).

``bonestore serve`` shows it at ``/_dev/outbox`` (a page) and ``/_dev/outbox.json``
(``{"messages": [{"id", "from", "to", "subject", "body", "links"}]}``, oldest
first), which tests read to follow an email's links. Local only: the pages are
served by the local API, never deployed.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from bonestore_infra.local_aws import sent_emails

_HREF = re.compile(r'href="([^"]+)"')
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


def outbox() -> list[dict[str, Any]]:
    messages = sent_emails()
    for message in messages:
        body = message.get("body") or ""
        message["links"] = [html.unescape(link) for link in _HREF.findall(body)]
    return messages


def outbox_json() -> tuple[str, bytes]:
    return "application/json", json.dumps({"messages": outbox()}).encode()


def outbox_html() -> tuple[str, bytes]:
    """The messages newest first. Bodies are our own builders' HTML (escaped data, no
    script, no inline style), shown as sent; everything else is escaped here."""
    e = html.escape
    items = []
    for message in reversed(outbox()):
        match = _BODY.search(message.get("body") or "")
        content = match.group(1) if match else f"<pre>{e(message.get('body') or '')}</pre>"
        items.append(
            '<article class="message">'
            f"<h2>{e(message.get('subject') or '(no subject)')}</h2>"
            f"<p>From {e(message['from'] or '')} to {e(', '.join(message['to']))}"
            f" · id {e(message['id'])}</p>"
            f'<div class="body">{content}</div></article>'
        )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Local outbox · bonestore</title></head><body><main>"
        "<h1>Local outbox</h1><p>Emails sent through the embedded SES, newest first "
        '(<a href="/_dev/outbox.json">JSON</a>). Nothing here leaves this machine.</p>'
        + ("".join(items) or "<p>No emails sent yet.</p>")
        + "</main></body></html>"
    )
    return "text/html; charset=utf-8", page.encode()


OUTBOX_PAGES = {"/_dev/outbox": outbox_html, "/_dev/outbox.json": outbox_json}
