"""The ports the use cases depend on: small protocols the adapters satisfy.

The service layer never imports an adapter; ``bonestore.service.providers`` builds
the real ones, and ``tests/fakes.py`` holds one in-memory fake per port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bonestore.domain.email import EmailMessage
    from bonestore.domain.limits import HoldLimits
    from bonestore.domain.order import Order, OrderEvent
    from bonestore.domain.payment import CheckoutSession, SessionRequest, ShippingDetails


class OrderStore(Protocol):
    """Orders, moved only along ``bonestore.domain.orders.TRANSITIONS``.

    ``transition`` returns the order as stored after the move, or None (the event is
    then recorded as ignored) when the order is no longer in a status the move starts
    from. ``save`` raises ``OrderMoved`` when the order left ``current.status``.
    ``create_with_reservation`` raises ``OutOfStock``; with ``limits`` it counts the stock
    against the order's ``holder`` in the same write (``RateLimited`` past the share) and
    raises ``CartAlreadyOpen`` when the same cart's checkout (``cart_key``) is still open;
    moves out of ``pending_payment`` give the holder's share back in the same write.
    """

    def get(self, order_id: str) -> Order | None: ...

    def find_by_email(
        self, email: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[Order], str | None]: ...

    def find_by_status(
        self, status: str, *, limit: int = 20, next_token: str | None = None
    ) -> tuple[list[Order], str | None]: ...

    def expired_reservations(self, now: str, *, limit: int = 100) -> list[str]: ...

    def create_with_reservation(
        self, order: Order, *, limits: HoldLimits | None = None
    ) -> Order: ...

    def transition(
        self, current: Order, target: str, *, event: OrderEvent, updated: Order | None = None
    ) -> Order | None: ...

    def record_event(self, order_id: str, event: OrderEvent) -> None: ...

    def claim_email(self, order_id: str, kind: str, *, now: int, lease_seconds: int) -> bool:
        """Whether this caller may send the order's ``kind`` email: no other caller claimed
        it in the last ``lease_seconds``. False for an unknown order."""
        ...

    def release_email(self, order_id: str, kind: str) -> None:
        """Give up a claim (the send failed): the next caller may try."""
        ...

    def save(self, current: Order, updated: Order, *, event: OrderEvent | None = None) -> None: ...


class CheckoutRateLimiter(Protocol):
    """Counts one checkout against each (key, per-minute limit); raises ``RateLimited``
    past one, and a retryable 503 when the counters cannot be reached (fails closed)."""

    def hit(self, keys: list[tuple[str, int]], now: float) -> None: ...


class ProductStore(Protocol):
    def get_many(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]: ...


class PaymentGateway(Protocol):
    def create_checkout_session(
        self, request: SessionRequest, *, idempotency_key: str
    ) -> CheckoutSession: ...

    def expire_checkout_session(self, session_id: str) -> CheckoutSession: ...

    def payment_shipping(self, payment_intent_id: str) -> ShippingDetails | None:
        """The shipping address the provider holds for a payment, None when it has none."""
        ...

    def refund(self, payment_intent_id: str, *, order_id: str) -> str:
        """Refund the payment in full, once per order: every call for one order is the
        same request, whoever makes it and why (they are in the order's timeline), so a
        retry, a second staff member and the automatic refund all get the one refund."""
        ...


class OrderEventPublisher(Protocol):
    def order_paid(self, order: Order) -> None: ...

    def order_ready_to_ship(self, order: Order) -> None: ...


class OncePerKey(Protocol):
    """Runs ``create`` once per client key and payload; a repeat gets the first answer.
    Raises ``IdempotencyKeyReused`` (same key, other payload) or ``RequestInProgress``."""

    def __call__(
        self, key: str, payload: dict[str, Any], create: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]: ...


class EmailSender(Protocol):
    """Sends one customer email (SES in AWS and locally; a recorder in tests)."""

    def send(self, message: EmailMessage) -> str:
        """Send ``message``; returns the provider's message id."""
        ...


class BusinessMetrics(Protocol):
    """Business and failure counts (``bonestore.service.metrics`` names them).

    ``count(name)`` for a dimension-free total; ``count(name, by=value)`` for a
    breakdown, split by the one dimension ``BREAKDOWNS`` gives it. Nothing leaves until
    ``flush``, which each handler calls once per invocation (``bonestore.api.observability``).
    """

    def count(self, name: str, *, by: str | None = None, value: int = 1) -> None: ...

    def flush(self) -> None: ...
