"""The one provider module: every adapter and use case a handler needs, built here.

Handlers get them with Powertools ``Depends(provider)`` (tests swap one with
``app.dependency_overrides[provider] = lambda: fake``) or, outside the HTTP
resolver (webhook processing, the sweeper), by calling the provider; tests then
use :func:`override`. Clients are created lazily, once per process, and stripe,
the rules and EventBridge are imported only when first needed, so a handler's
cold start pays only for what its route uses. ``StripeGateway`` is built here and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from bonestore.config import get_settings

if TYPE_CHECKING:
    from bonestore.adapters.idempotency import OncePerKey
    from bonestore.adapters.orders import OrderRepository
    from bonestore.adapters.products import ProductRepository
    from bonestore.adapters.secrets import StripeSecrets
    from bonestore.domain.rules import Engine
    from bonestore.service.checkout import CheckoutService
    from bonestore.service.fulfilment import Fulfilment, Shipments
    from bonestore.service.payments import CustomerEmails, PaymentService
    from bonestore.service.ports import (
        BusinessMetrics,
        CheckoutRateLimiter,
        EmailSender,
        OrderEventPublisher,
        PaymentGateway,
    )
    from bonestore.service.reservations import ReservationSweeper
    from bonestore.service.resolutions import SupportResolutions

T = TypeVar("T")
# A client retrying with the same Idempotency-Key within a day gets the same checkout.
CHECKOUT_IDEMPOTENCY_SECONDS = 24 * 3600
_overrides: dict[Callable[..., Any], Callable[[], Any]] = {}
_built: dict[str, Any] = {}


def _provided(provider: Callable[[], T], build: Callable[[], T]) -> T:
    replacement = _overrides.get(provider)
    return replacement() if replacement is not None else build()


def _once(name: str, build: Callable[[], T]) -> T:
    """Built on first use and kept for the warm instance (until :func:`reset`)."""
    if name not in _built:
        _built[name] = build()
    return _built[name]  # type: ignore[no-any-return]


@contextmanager
def override(provider: Callable[[], T], replacement: Callable[[], T]) -> Iterator[None]:
    """Within the block, ``provider()`` (and the use cases built from it) uses
    ``replacement``; an override it replaces (the local stack's ruleset) comes back after."""
    previous = _overrides.get(provider)
    _overrides[provider] = replacement
    reset()
    try:
        yield
    finally:
        if previous is None:
            del _overrides[provider]
        else:
            _overrides[provider] = previous
        reset()


def reset() -> None:
    """Forget what was built (tests; settings changed)."""
    _built.clear()


def product_repository() -> ProductRepository:
    def build() -> ProductRepository:
        from bonestore.adapters.dynamo import dynamodb_client
        from bonestore.adapters.products import ProductRepository

        return ProductRepository(dynamodb_client(), get_settings().products_table)

    return _provided(product_repository, build)


def order_repository() -> OrderRepository:
    def build() -> OrderRepository:
        from bonestore.adapters.dynamo import dynamodb_client
        from bonestore.adapters.orders import OrderRepository

        settings = get_settings()
        return OrderRepository(
            dynamodb_client(),
            settings.orders_table,
            settings.products_table,
            settings.limits_table,
        )

    return _provided(order_repository, build)


def stripe_secrets() -> StripeSecrets:
    from bonestore.adapters.secrets import StripeSecrets

    return _once("stripe_secrets", lambda: StripeSecrets(get_settings().stripe_secret_name))


def webhook_secrets() -> tuple[str, ...]:
    return _provided(webhook_secrets, lambda: stripe_secrets().keys().webhook_secrets)


def order_token_key() -> bytes:
    """The key customers' order tokens are derived with (``bonestore.domain.order_token``)."""
    return _provided(order_token_key, lambda: stripe_secrets().keys().order_token_key)


def stripe_gateway() -> PaymentGateway:
    """One Stripe client per warm instance; the key is read when first needed."""

    def build() -> PaymentGateway:
        from bonestore.adapters.stripe_gateway import StripeGateway

        secrets = stripe_secrets()
        return StripeGateway(lambda: secrets.keys().api_key, get_settings().stripe_api_base)

    return _provided(stripe_gateway, lambda: _once("stripe_gateway", build))


def event_publisher() -> OrderEventPublisher:
    def build() -> OrderEventPublisher:
        from bonestore.adapters.events import EventBridgePublisher, events_client

        return EventBridgePublisher(events_client(), get_settings().event_bus_name)

    return _provided(event_publisher, build)


def rules_engine() -> Engine:
    def build() -> Engine:
        from bonestore.domain.rules import default_engine

        return default_engine()

    return _provided(rules_engine, build)


def email_storefront_url() -> str:
    """The storefront customers' email links open: in AWS the stack's SSM parameter
    (``STOREFRONT_URL_PARAMETER``, read at the first email, cached 5 minutes),
    locally ``STOREFRONT_URL``."""

    def read() -> str:
        settings = get_settings()
        if settings.storefront_url_parameter:
            from bonestore.adapters.parameters import read_storefront_url

            return read_storefront_url(settings.storefront_url_parameter)
        return settings.storefront_url

    return _provided(email_storefront_url, read)


def business_metrics() -> BusinessMetrics:
    """The invocation's business metrics (EMF); handlers flush them (``bonestore.api.observability``)."""

    def build() -> BusinessMetrics:
        from bonestore.adapters.metrics import EmfMetrics
        from bonestore.service.metrics import BREAKDOWNS

        return EmfMetrics(breakdowns=BREAKDOWNS)

    return _provided(business_metrics, lambda: _once("business_metrics", build))


def customer_emails() -> CustomerEmails:
    """The customer's order emails (paid, held, refunded, shipped), once per kind each."""
    from bonestore.service.payments import CustomerEmails

    return CustomerEmails(
        email_sender,
        order_token_key=order_token_key,
        storefront_url=email_storefront_url,
    )


def payment_service() -> PaymentService:
    def build() -> PaymentService:
        from bonestore.service.payments import PaymentService

        return PaymentService(
            order_repository(),
            engine=rules_engine,
            publisher=event_publisher,
            gateway=stripe_gateway,
            on_ineligible=get_settings().on_ineligible_payment,
            emails=customer_emails(),
            metrics=business_metrics(),
        )

    return _once("payment_service", build)


def support_resolutions() -> SupportResolutions:
    def build() -> SupportResolutions:
        from bonestore.service.resolutions import SupportResolutions

        return SupportResolutions(
            order_repository(),
            engine=rules_engine,
            gateway=stripe_gateway,
            follow_up=lambda order: payment_service().follow_up(order),
        )

    return _once("support_resolutions", build)


def fulfilment() -> Fulfilment:
    def build() -> Fulfilment:
        from bonestore.service.fulfilment import Fulfilment

        return Fulfilment(
            order_repository(),
            engine=rules_engine,
            publisher=event_publisher,
            metrics=business_metrics(),
            emails=customer_emails(),
        )

    return _once("fulfilment", build)


def warehouse_shipments() -> Shipments:
    """Shipments the warehouse records; named apart from ``Order.shipments``, which the
    template gates' name-following would otherwise take for this provider."""
    from bonestore.service.fulfilment import Shipments

    return _once("shipments", lambda: Shipments(order_repository(), emails=customer_emails()))


def checkout_once_per_key() -> OncePerKey:
    from bonestore.adapters.idempotency import OncePerKey

    return _once("checkout_once_per_key", lambda: OncePerKey(CHECKOUT_IDEMPOTENCY_SECONDS))


def checkout_rate_limiter() -> CheckoutRateLimiter:
    def build() -> CheckoutRateLimiter:
        from bonestore.adapters.dynamo import dynamodb_client
        from bonestore.adapters.limits import CheckoutRateLimiter

        return CheckoutRateLimiter(dynamodb_client(), get_settings().limits_table)

    return _provided(checkout_rate_limiter, build)


def checkout_service() -> CheckoutService:
    def build() -> CheckoutService:
        from bonestore.domain.limits import HoldLimits, RateLimits
        from bonestore.service.checkout import CheckoutService

        settings = get_settings()
        return CheckoutService(
            product_repository(),
            order_repository(),
            gateway=stripe_gateway,
            engine=rules_engine,
            once_per_key=checkout_once_per_key(),
            expiry_minutes=settings.checkout_expiry_minutes,
            order_token_key=order_token_key,
            rate_limiter=checkout_rate_limiter(),
            hold_limits=HoldLimits(
                max_units_per_sku=settings.checkout_max_units_per_sku,
                max_open_reservations=settings.checkout_max_open_reservations,
            ),
            rate_limits=RateLimits(
                per_email_per_minute=settings.checkout_rate_per_email,
                per_address_per_minute=settings.checkout_rate_per_address,
            ),
            metrics=business_metrics(),
        )

    return _once("checkout_service", build)


def reservation_sweeper() -> ReservationSweeper:
    def build() -> ReservationSweeper:
        from bonestore.service.reservations import ReservationSweeper

        return ReservationSweeper(
            order_repository(),
            gateway=stripe_gateway,
            payments=payment_service,
            metrics=business_metrics(),
        )

    return _once("reservation_sweeper", build)


def email_sender() -> EmailSender:
    """Customer emails from the template's verified sender; the SES client is made on first send."""

    def build() -> EmailSender:
        from bonestore.adapters.email import SesEmailSender

        return SesEmailSender(get_settings().email_sender)

    return _provided(email_sender, lambda: _once("email_sender", build))
