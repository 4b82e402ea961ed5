"""The typed order: what the service layer reads and changes. Pure; no I/O.

The order repository (``bonestore.adapters.orders``) is the only place that knows how
an order is stored; everything else works on these values. They are frozen: a change
is ``dataclasses.replace(order, ...)`` handed back to the repository, which writes the
attributes that differ in one conditional update (see ``OrderRepository.transition``).

Decisions (``eligibility_at_checkout``, ``eligibility_at_payment``) stay the rules'
own JSON documents: they are records of what the engine said, shown to support as
they were made, not fields the service interprets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from bonestore.domain.errors import Conflict
from bonestore.domain.orders import OrderStatus, now_iso

if TYPE_CHECKING:  # pydantic models: imported where used, off the webhook's cold path
    from bonestore.domain.geo import Destination
    from bonestore.domain.money import Money
    from bonestore.domain.rules import CartLine

# Where the order's reserved stock is: none held, held, back on sale, or sold.
StockState = Literal["none", "reserved", "released", "committed"]
# Why the sweeper may (``pending``) or may not (``awaiting_payment``: the customer
# completed Checkout, the bank debit is on its way) release a reservation.
ReservationState = Literal["pending", "awaiting_payment"]


class OrderMoved(Conflict):
    """The order was no longer in the status a change expected (someone moved it first)."""

    code = "order_moved"


class OutOfStock(Conflict):
    code = "out_of_stock"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One line of the order's timeline."""

    type: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=now_iso)

    def with_detail(self, **extra: Any) -> OrderEvent:
        return OrderEvent(self.type, {**self.detail, **extra}, self.at)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "type": self.type, "detail": dict(self.detail)}


class OrderLine(NamedTuple):
    """One SKU of the order, with the product as it was sold (its JSON snapshot)."""

    sku: str
    quantity: int
    unit_price: Money
    product: Mapping[str, Any]

    @property
    def line_total(self) -> Money:
        return self.unit_price.times(self.quantity)

    def as_json(self) -> dict[str, Any]:
        """The contract's order line (and the stored one)."""
        return {
            "sku": self.sku,
            "quantity": self.quantity,
            "unit_price": self.unit_price.as_json(),
            "line_total": self.line_total.as_json(),
            "product": dict(self.product),
        }

    @property
    def kind(self) -> str | None:
        value = self.product.get("kind")
        return value if isinstance(value, str) else None

    def cart_line(self) -> CartLine:
        """The line as the rules see it; raises ValueError on an unreadable snapshot."""
        from bonestore.domain.catalog import Product
        from bonestore.domain.rules import CartLine

        fields = Product.model_fields
        product = Product.model_validate({k: v for k, v in self.product.items() if k in fields})
        return CartLine(product, self.quantity)


class StockLine(NamedTuple):
    """Units of one physical SKU reserved by the order (one per SKU: a transaction
    may touch an item once)."""

    sku: str
    quantity: int


class Address(NamedTuple):
    """A postal address the parcel goes to (names as in the contract's Address)."""

    country: str
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    subdivision: str | None = None
    postal_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The contract's Address: the fields that are set."""
        fields = {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "subdivision": self.subdivision,
            "postal_code": self.postal_code,
            "country": self.country,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def destination(self) -> Destination:
        """What the rules decide on (the name and second line never matter to them)."""
        from bonestore.domain.geo import Destination

        return Destination(
            country=self.country,
            subdivision=self.subdivision,
            postal_code=self.postal_code,
            city=self.city,
            line1=self.line1,
        )


class ShippingChoice(NamedTuple):
    """The shipping method an order ships by, and what was charged for it."""

    method_id: str
    name: str
    price: Money

    def as_json(self) -> dict[str, Any]:
        """The contract's (and the stored) ``shipping``: ``{"method", "name", "price"}``."""
        return {"method": self.method_id, "name": self.name, "price": self.price.as_json()}

    def method_json(self) -> dict[str, Any]:
        """The contract's ``shipping_method`` (checkout and the customer's order):
        ``{"id", "name", "price"}``."""
        return {"id": self.method_id, "name": self.name, "price": self.price.as_json()}


class Shipment(NamedTuple):
    carrier: str
    tracking_number: str
    at: str


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    status: OrderStatus
    created_at: str
    updated_at: str
    currency: str
    lines: tuple[OrderLine, ...]
    amount_subtotal: Money
    amount_total: Money
    email: str | None = None
    # What the customer picked on the storefront (country at least), decided at checkout.
    destination: Destination | None = None
    # What the parcel goes to and how, once known (at payment today; before it in v2).
    shipping_address: Address | None = None
    shipping_method: ShippingChoice | None = None
    billing_country: str | None = None
    # The billing address's place as the rules read it (country, subdivision, postal code):
    # a check run again later (support's "now", a release) must see what the payment check
    # saw, and an embargoed region is a subdivision or a postal code, not a country.
    billing_place: Destination | None = None
    eligibility_at_checkout: Mapping[str, Any] | None = None
    eligibility_at_payment: Mapping[str, Any] | None = None
    hold_reasons: tuple[Mapping[str, Any], ...] = ()
    ruleset_version: str | None = None
    allowed_countries: tuple[str, ...] | None = None
    stock_lines: tuple[StockLine, ...] = ()
    stock_state: StockState = "none"
    reservation: ReservationState | None = None
    reservation_expires_at: str | None = None
    stripe_session_id: str | None = None
    checkout_url: str | None = None
    # Stripe's shipping rate id -> our method id, for the options offered at checkout.
    shipping_rate_ids: Mapping[str, str] = field(default_factory=dict)
    payment_intent_id: str | None = None
    refund_id: str | None = None
    failure: str | None = None
    order_paid_published_at: str | None = None
    order_token_hash: str | None = None
    shipments: tuple[Shipment, ...] = ()
    events: tuple[OrderEvent, ...] = ()
    # Reservation limits (bonestore.domain.limits): whose share the reserved stock counts
    # against (set only when it was counted), and the key of this cart's open checkout.
    holder: str | None = None
    cart_key: str | None = None

    @property
    def physical(self) -> bool:
        return any(line.kind == "physical" for line in self.lines)

    def decided_destination(self) -> Destination | None:
        """Where the rules judged the order: the destination picked at checkout, else the
        one the latest stored decision used (the address Stripe collected)."""
        from bonestore.domain.geo import Destination

        if self.destination is not None:
            return self.destination
        for decision in (self.eligibility_at_payment, self.eligibility_at_checkout):
            raw = decision.get("destination") if decision else None
            if isinstance(raw, Mapping) and raw:
                fields = Destination.model_fields
                return Destination.model_validate({k: v for k, v in raw.items() if k in fields})
        return None

    def billing(self) -> Destination | None:
        """Where the payment was billed, as the payment check judged it: the billing
        place, or for orders paid before it was kept, the billing country alone."""
        from bonestore.domain.geo import Destination

        if self.billing_place is not None:
            return self.billing_place
        return Destination(country=self.billing_country) if self.billing_country else None

    def cart_lines(self) -> list[CartLine]:
        return [line.cart_line() for line in self.lines]

    def summary(self) -> dict[str, Any]:
        """The contract's OrderSummary."""
        return {
            "order_id": self.order_id,
            "status": self.status,
            "email": self.email,
            "created_at": self.created_at,
            "amount_total": self.amount_total.as_json(),
        }


def quantities_by_sku(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The total quantity of each SKU, in first-seen order: the one per-SKU merger."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        totals[sku] = totals.get(sku, 0) + quantity
    return totals


def merge_stock_lines(lines: Iterable[tuple[str, int]]) -> tuple[StockLine, ...]:
    """One entry per SKU, sorted."""
    return tuple(StockLine(sku, qty) for sku, qty in sorted(quantities_by_sku(lines).items()))
