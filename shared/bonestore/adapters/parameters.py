"""The storefront URL, from the stack's SSM parameter (Powertools Parameters).

template.yaml stores ``https://<distribution domain>`` (or the custom domain) in the
parameter ``/<stack>/storefront-url``; the functions that send email get its *name*
(``STOREFRONT_URL_PARAMETER``), so they do not depend on the distribution, which
depends on the API (a cycle, E3004). Read only when an email is sent, then cached by
Powertools for ``MAX_AGE_SECONDS``; ``boto3``'s SSM client is made on that first read.
"""

from __future__ import annotations

from bonestore.domain.errors import UpstreamUnavailable

# The value changes only with a deploy that changes the domain: re-read every 5 minutes.
MAX_AGE_SECONDS = 300


def read_storefront_url(name: str) -> str:
    """The URL stored under ``name``; UpstreamUnavailable if it is not an http(s) URL."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, max_age=MAX_AGE_SECONDS)
    url = str(value or "").strip().rstrip("/")
    if not url.startswith(("https://", "http://")) or " " in url:
        raise UpstreamUnavailable(f"The SSM parameter {name} holds no storefront URL.")
    return url
