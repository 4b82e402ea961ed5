"""Masking of customer data for logs. Logs never carry a full email or address.

Use ``mask_email`` / ``mask_destination`` whenever a log line needs to say who
or where; support reads the real values through the audited support API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mask_email(email: str | None) -> str | None:
    """``jane.doe@example.com`` -> ``j***@e***.com``."""
    if not email:
        return email
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


def mask_destination(destination: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Keep what routing decisions need (country, subdivision); hide the rest."""
    if destination is None:
        return None
    masked: dict[str, Any] = {
        "country": destination.get("country"),
        "subdivision": destination.get("subdivision") or destination.get("state"),
    }
    postal = destination.get("postal_code")
    if postal:
        masked["postal_code"] = str(postal)[:2] + "***"
    for key in ("line1", "line2", "city", "name"):
        if destination.get(key):
            masked[key] = "***"
    return masked
