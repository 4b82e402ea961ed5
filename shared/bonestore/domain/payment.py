"""What the service knows of the payment provider: small typed values, no wire format.

``bonestore.adapters.stripe_translation`` builds Stripe's Checkout Session parameters
from a :class:`SessionRequest` and parses Stripe's sessions and events into
:class:`CheckoutSession`, :class:`ChargeRefund` and :class:`PaymentEvent`; a field of
the wrong type in a payload (even a correctly signed one) reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from bonestore.domain.money import Money
    from bonestore.domain.order import Address, Order, OrderLine, ShippingChoice

# Reason codes that refuse a sale whatever is bought: the payment check screens the
# billing address for them (service/payments.py), and a ruleset diff replays it.
EMBARGO_CODES = frozenset({"embargoed"})


def is_embargoed(order: Order) -> bool:
    """Whether a sanction is among the order's hold reasons: no review ships it after all."""
    return any(reason.get("code") in EMBARGO_CODES for reason in order.hold_reasons)


SESSION_COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
SESSION_EXPIRED = "checkout.session.expired"
CHARGE_REFUNDED = "charge.refunded"
SESSION_EVENTS = frozenset({SESSION_COMPLETED, ASYNC_SUCCEEDED, ASYNC_FAILED, SESSION_EXPIRED})
HANDLED_EVENTS = SESSION_EVENTS | {CHARGE_REFUNDED}
PAID_STATUSES = frozenset({"paid", "no_payment_required"})


class SessionRequest(NamedTuple):
    """A hosted checkout to open for an order: its lines at their prices, the address the
    parcel goes to (fixed: the customer cannot change it at the provider), the one
    shipping method charged for it, and when it expires."""

    order_id: str
    lines: tuple[OrderLine, ...]
    success_url: str
    cancel_url: str
    expires_at: int  # Unix seconds
    email: str | None = None
    shipping_address: Address | None = None
    shipping_options: tuple[ShippingChoice, ...] = ()


class CheckoutSession(NamedTuple):
    """A Checkout Session as the service reads it. Addresses keep the provider's field
    names (``line1``, ``line2``, ``city``, ``state``, ``postal_code``, ``country``),
    strings only; ``bonestore.domain.geo.destination_from_stripe_address`` reads them."""

    session_id: str | None = None
    order_id: str | None = None
    url: str | None = None
    status: str | None = None
    payment_status: str | None = None
    email: str | None = None
    shipping_name: str | None = None
    shipping_address: Mapping[str, str] | None = None
    billing_address: Mapping[str, str] | None = None
    shipping_rate_id: str | None = None
    shipping_paid: int = 0
    amount_subtotal: int | None = None
    amount_total: int | None = None
    currency: str | None = None
    payment_intent_id: str | None = None
    # The ids the provider gave the shipping options offered, in the order offered.
    shipping_option_rate_ids: tuple[str, ...] = ()

    @property
    def paid(self) -> bool:
        return self.payment_status in PAID_STATUSES

    def total(self, currency: str) -> Money | None:
        from bonestore.domain.money import Money

        if self.amount_total is None:
            return None
        return Money(amount=self.amount_total, currency=currency)


class ShippingDetails(NamedTuple):
    """A shipping address as the provider reports it on a payment (provider field names,
    as in :class:`CheckoutSession`)."""

    name: str | None
    address: Mapping[str, str]


class ChargeRefund(NamedTuple):
    charge_id: str | None
    order_id: str | None
    amount_refunded: int | None
    full: bool


class PaymentEvent(NamedTuple):
    """A verified provider event of a handled type with a readable object."""

    event_id: str
    type: str
    session: CheckoutSession | None = None
    charge: ChargeRefund | None = None
