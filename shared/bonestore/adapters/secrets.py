"""Stripe keys from Secrets Manager, through Powertools Parameters (cached 5 minutes).

The secret (``STRIPE_SECRET_NAME``) holds ``{"api_key": "sk_...", "webhook_secret":
"whsec_..."}``; a rolled webhook secret may be given as a list, or as
``"webhook_secret_previous"``, so deliveries signed with either still verify. Keys
never come from environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bonestore.errors import UpstreamUnavailable

CACHE_SECONDS = 300


@dataclass(frozen=True)
class StripeKeys:
    api_key: str
    webhook_secrets: tuple[str, ...]


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
    return StripeKeys(api_key=api_key, webhook_secrets=tuple(s for s in secrets if s))


class StripeSecrets:
    """Reads the secret on first use and again after ``CACHE_SECONDS``."""

    def __init__(self, secret_name: str) -> None:
        self._name = secret_name

    def keys(self, *, force: bool = False) -> StripeKeys:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_secret(
                self._name, transform="json", max_age=CACHE_SECONDS, force_fetch=force
            )
        except parameters.exceptions.GetParameterError as exc:
            raise UpstreamUnavailable(
                "Payment configuration is unavailable; please retry.",
                code="payment_provider_unavailable",
            ) from exc
        return parse_stripe_secret(value)
