"""Stripe keys from Secrets Manager, cached 5 minutes (``cached_reads.py``).

The secret (``STRIPE_SECRET_NAME``) holds ``{"api_key": "sk_...", "webhook_secret":
"whsec_..."}``; a rolled webhook secret may be given as a list, or as
``"webhook_secret_previous"``, so deliveries signed with either still verify. An
optional ``"order_token_key"`` is the key customers' order tokens are derived with
(``bonestore.domain.order_token``); without it the key is derived from ``api_key``,
so rolling the Stripe key then changes the links in later emails (set it in production:
docs/deploy.md). Keys never come from environment variables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, NamedTuple

from bonestore.adapters.cached_reads import AwsReads
from bonestore.domain.errors import UpstreamUnavailable

CACHE_SECONDS = 300

# One Secrets Manager client per process, from the process's session (``aws.py``): a
# second session would load botocore's data files again (~70 ms).
_reads: AwsReads[Any] = AwsReads("secretsmanager", CACHE_SECONDS)


def _read_secret(name: str) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        text = _reads.client().get_secret_value(SecretId=name)["SecretString"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        raise UpstreamUnavailable(
            "Payment configuration is unavailable; please retry.",
            code="payment_provider_unavailable",
        ) from exc
    return json.loads(text)


def forget_cached_secrets() -> None:
    """Drop the client and the values it read (SnapStart's after-restore hook: a snapshot
    must not carry a secret a rotation has replaced, nor the snapshot's client)."""
    _reads.forget()


class StripeKeys(NamedTuple):
    api_key: str
    webhook_secrets: tuple[str, ...]
    order_token_key: bytes = b""


def parse_stripe_secret(value: Any) -> StripeKeys:
    if not isinstance(value, dict):
        raise ValueError("the Stripe secret must be a JSON object")
    api_key = value.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("the Stripe secret has no api_key")
    raw = value.get("webhook_secret")
    secrets = [raw] if isinstance(raw, str) else list(raw or [])
    previous = value.get("webhook_secret_previous")
    if isinstance(previous, str) and previous:
        secrets.append(previous)
    token_key = value.get("order_token_key")
    if isinstance(token_key, str) and len(token_key) >= 32:
        order_token_key = token_key.encode("utf-8")
    else:
        order_token_key = hmac.new(
            api_key.encode("utf-8"), b"bonestore order token key", hashlib.sha256
        ).digest()
    return StripeKeys(
        api_key=api_key,
        webhook_secrets=tuple(s for s in secrets if s),
        order_token_key=order_token_key,
    )


class StripeSecrets:
    """Reads the secret on first use and again after ``CACHE_SECONDS``."""

    def __init__(self, secret_name: str) -> None:
        self._name = secret_name

    def keys(self) -> StripeKeys:
        return parse_stripe_secret(_reads.values.get(self._name, lambda: _read_secret(self._name)))
