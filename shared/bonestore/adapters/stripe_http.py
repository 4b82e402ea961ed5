"""The Stripe SDK's HTTP client over urllib3, which botocore has already loaded.

``import stripe`` imports requests when it is installed (to pick its default HTTP
client): ~22 ms of CPU on checkout's first invocation (measured in the deployed layer),
for what urllib3 already does. So the layer ships stripe without it
(shared/requirements.txt's ``no-deps``), and the gateway gives the SDK this client,
which does what ``RequestsClient`` did, over one urllib3 pool:

- connections kept alive across requests and invocations (the pool is thread-safe, so
  no per-thread session as requests needs);
- TLS verified against the CA bundle stripe ships (``stripe.ca_bundle_path``), as
  ``RequestsClient`` does;
- the same connect and read timeouts, no redirects (Stripe's API sends none), no retries
  of its own: the SDK's ``request_with_retries`` decides, from ``should_retry``. As
  ``RequestsClient``: connection failures and timeouts are retried, a TLS failure and
  any other transport error are not.

No proxy: Lambda's functions reach Stripe directly (``RequestsClient`` would also read
``HTTPS_PROXY``; nothing here sets it). Imported only by ``stripe_gateway``, lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe
import urllib3

_MESSAGE = "Unexpected error communicating with Stripe"
POOL_SIZE = 10  # requests' default per host, which RequestsClient had


def _connection_error(message: str, exc: Exception, retry: bool) -> stripe.APIConnectionError:
    error: stripe.APIConnectionError = stripe.APIConnectionError(  # type: ignore[no-untyped-call]
        f"{message} ({type(exc).__name__}: {exc})", should_retry=retry
    )
    return error


class Urllib3Client(stripe.HTTPClient):
    name = "urllib3"

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        # Up to POOL_SIZE connections kept: a Lambda environment makes one request at a
        # time, the local gateway's threads several (past the size, urllib3 opens and drops
        # extra connections, with a warning each).
        self._pool = urllib3.PoolManager(
            maxsize=POOL_SIZE,
            cert_reqs="CERT_REQUIRED",
            ca_certs=stripe.ca_bundle_path,
            retries=False,
        )

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:  # the body as bytes, as RequestsClient's
        body = post_data.encode("utf-8") if isinstance(post_data, str) else post_data
        try:
            response = self._pool.request(
                method.upper(),
                url,
                body=body,
                headers=dict(headers or {}),
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.SSLError as exc:
            raise _connection_error(
                "Could not verify Stripe's TLS certificate", exc, False
            ) from exc
        except (
            urllib3.exceptions.TimeoutError,
            urllib3.exceptions.NewConnectionError,
            urllib3.exceptions.ProtocolError,
        ) as exc:
            raise _connection_error(_MESSAGE, exc, True) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _connection_error(_MESSAGE, exc, False) from exc
        # urllib3's headers are case-insensitive, as the SDK expects of them
        # (``Stripe-Should-Retry``, ``Request-Id``).
        return response.data, response.status, response.headers

    def request_stream(self, *args: Any, **kwargs: Any) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("the service makes no streaming Stripe requests")

    def close(self) -> None:
        self._pool.clear()
