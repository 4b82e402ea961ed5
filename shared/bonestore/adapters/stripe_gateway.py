"""Stripe behind a small interface: the only module that imports ``stripe`` (lazily; its
HTTP client, ``stripe_http``, too).

Every POST carries an ``Idempotency-Key`` so a retry (ours or the SDK's) never
creates a second session or refund. Any Stripe or network failure leaves as
:class:`bonestore.domain.errors.UpstreamUnavailable` with code
``payment_provider_unavailable``: the caller undoes its side and the client may retry.
``STRIPE_API_BASE`` (local emulator only) points the SDK elsewhere.

Requests go through ``StripeClient.raw_request``: the SDK's auth, retries, idempotency,
API version and error types, with the JSON body as the API sent it. Its services would
also build a ``StripeObject`` of the resource's class, which we turn straight back into
a dict, and a class that imports first costs the cold start: ~18 ms of CPU to import
``stripe.checkout._session`` on checkout's first invocation (deployed layer, issue #14).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from bonestore.domain.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from bonestore.domain.payment import CheckoutSession, SessionRequest, ShippingDetails

log = logging.getLogger("bonestore.stripe")

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 8.0
MAX_NETWORK_RETRIES = 1


class StripeGateway:
    """``bonestore.service.ports.PaymentGateway`` over ``stripe.StripeClient`` (created on
    first use); Stripe's objects are translated by ``bonestore.adapters.stripe_translation``."""

    def __init__(self, api_key: str | Callable[[], str], api_base: str | None = None) -> None:
        self._api_key = api_key
        self._api_base = api_base
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import stripe

            from bonestore.adapters.stripe_http import Urllib3Client

            key = self._api_key if isinstance(self._api_key, str) else self._api_key()
            options: dict[str, Any] = {
                "max_network_retries": MAX_NETWORK_RETRIES,
                "http_client": Urllib3Client(
                    timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
                ),
            }
            if self._api_base:
                options["base_addresses"] = {"api": self._api_base}
            self._client = stripe.StripeClient(key, **options)
        return self._client

    def create_checkout_session(
        self, request: SessionRequest, *, idempotency_key: str
    ) -> CheckoutSession:
        from bonestore.adapters.stripe_translation import parse_session, session_params

        with _mapped_errors("create checkout session"):
            session = self._call(
                "post", "/v1/checkout/sessions", session_params(request), idempotency_key
            )
            return parse_session(session)

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Expire an open session; a session already complete or expired is returned as is."""
        import stripe

        from bonestore.adapters.stripe_translation import parse_session

        path = f"/v1/checkout/sessions/{quote_plus(session_id)}"
        with _mapped_errors("expire checkout session"):
            try:
                session = self._call("post", f"{path}/expire", {}, f"expire-{session_id}")
            except stripe.InvalidRequestError:
                # Not open any more (paid or already expired): tell the caller what it is.
                session = self._call("get", path)
            return parse_session(session)

    def payment_shipping(self, payment_intent_id: str) -> ShippingDetails | None:
        """The shipping address Stripe holds for a payment (the PaymentIntent's)."""
        from bonestore.adapters.stripe_translation import parse_intent_shipping

        with _mapped_errors("retrieve payment intent"):
            intent = self._call("get", f"/v1/payment_intents/{quote_plus(payment_intent_id)}")
            return parse_intent_shipping(intent)

    def refund(self, payment_intent_id: str, *, order_id: str) -> str:
        """Refund a payment in full, once per order; returns the refund's id.

        Stripe compares a repeated idempotency key's parameters with the first request's
        and refuses others (``idempotency_error``, docs.stripe.com/api/idempotent_requests):
        so key and parameters are the order's alone. Support's refund carried who and why
        in the metadata, and a second staff member's, or one after the automatic refund,
        was refused with a 502."""
        with _mapped_errors("refund"):
            refund = self._call(
                "post",
                "/v1/refunds",
                {"payment_intent": payment_intent_id, "metadata": {"order_id": order_id}},
                f"refund-{order_id}",
            )
            return str(refund["id"])

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One API request; the resource as the API's JSON. ``raw_request`` takes the
        request options from the same keywords as the parameters, so a parameter named
        like one (``api_key``, ``idempotency_key``, ...) is refused rather than lost."""
        params = dict(params or {})
        taken = RAW_REQUEST_KEYWORDS & params.keys()
        if taken:
            raise ValueError(f"Stripe parameters named like request options: {sorted(taken)}")
        if idempotency_key is not None:
            params["idempotency_key"] = idempotency_key
        response = self.client.raw_request(method, path, **params)
        return dict(response.data)


# The keywords StripeClient.raw_request reads as options, not parameters (stripe v16:
# _request_options.extract_options_from_dict, plus "base" and "usage").
RAW_REQUEST_KEYWORDS = frozenset(
    {
        "api_key",
        "stripe_version",
        "stripe_account",
        "stripe_context",
        "max_network_retries",
        "idempotency_key",
        "content_type",
        "headers",
        "base",
        "usage",
    }
)


@contextmanager
def _mapped_errors(action: str) -> Iterator[None]:
    import stripe

    try:
        yield
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None)
        log.warning(
            "stripe %s failed: %s (status %s, request %s)",
            action,
            type(exc).__name__,
            status,
            getattr(exc, "request_id", None),
        )
        # 409: another request with the same idempotency key is still running at Stripe
        # ("Try again later"), or the object was locked; a retry gets the first's answer.
        retryable = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
            isinstance(status, int) and (status >= 500 or status == 409)
        )
        raise UpstreamUnavailable(
            "The payment provider is unavailable; nothing was charged. Please retry.",
            code="payment_provider_unavailable",
            status=503 if retryable else 502,
        ) from exc


def load_sdk() -> None:
    """Import the stripe SDK now (SnapStart's before-snapshot hook) rather than on the
    first request that calls Stripe."""
    import stripe  # noqa: F401
