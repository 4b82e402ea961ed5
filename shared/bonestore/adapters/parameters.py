"""The storefront URL, from the stack's SSM parameter, cached 5 minutes (``cached_reads.py``).

template.yaml stores ``https://<distribution domain>`` (or the custom domain) in the
parameter ``/<stack>/storefront-url``; the functions that send email get its *name*
(``STOREFRONT_URL_PARAMETER``), so they do not depend on the distribution, which
depends on the API (a cycle, E3004). Read only when an email is sent, then again after
``MAX_AGE_SECONDS``; the SSM client is made, from the process's session (``aws.py``), on
that first read.
"""

from __future__ import annotations

from bonestore.adapters.cached_reads import AwsReads
from bonestore.domain.errors import UpstreamUnavailable

# The value changes only with a deploy that changes the domain: re-read every 5 minutes.
MAX_AGE_SECONDS = 300

_reads: AwsReads[str] = AwsReads("ssm", MAX_AGE_SECONDS)


def _read_parameter(name: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = _reads.client().get_parameter(Name=name)["Parameter"]["Value"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        raise UpstreamUnavailable(f"The SSM parameter {name} cannot be read.") from exc
    url = str(value or "").strip().rstrip("/")
    if not url.startswith(("https://", "http://")) or " " in url:
        raise UpstreamUnavailable(f"The SSM parameter {name} holds no storefront URL.")
    return url


def forget_cached_parameters() -> None:
    """Drop the client and the values it read (a new local stack: another endpoint)."""
    _reads.forget()


def read_storefront_url(name: str) -> str:
    """The URL stored under ``name``; UpstreamUnavailable if it cannot be read or is not
    an http(s) URL (neither is cached: the next email reads it again)."""
    return _reads.values.get(name, lambda: _read_parameter(name))
