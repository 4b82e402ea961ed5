"""Checkout: price a cart from the catalog, decide it, reserve its stock with the new
order, and open the payment provider's hosted checkout. ``plan_checkout`` is pure;
``CheckoutService`` runs the use case over the ports (``bonestore.service.ports``).

Decisions (see also docs in the function):

- Duplicate SKUs in a cart are merged into one line (quantities added; the sum must
  still be at most 999). Stock, Stripe and the rules all see one line per SKU.
- Prices, names and kinds come from the catalog only; price fields a client sends are
  ignored (the request models drop unknown keys).
- A cart with physical goods needs ``destination.country`` (400 ``destination_required``);
  it is decided against that destination, and Stripe then accepts only the countries
  where the whole cart may ship (judged on the country alone) that Stripe itself ships
  to. The address Stripe collects is decided again at payment (``bonestore.service.payments``).
- A digital-only cart collects no shipping address (``allowed_countries`` null) but a
  billing address, screened for embargoes at payment. When it names a destination it
  is decided now too; without one ``eligibility`` is null until payment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bonestore.domain.errors import (
    BonestoreError,
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    RequestInProgress,
    Unprocessable,
)
from bonestore.domain.money import Money
from bonestore.domain.order import Order, OrderEvent, OrderLine, ShippingChoice, merge_stock_lines
from bonestore.domain.orders import iso, new_order_id
from bonestore.domain.payment import CheckoutSession, SessionRequest
from bonestore.domain.privacy import mask_destination, mask_email
from bonestore.service.carts import (
    MAX_QUANTITY,
    CartItems,
    DestinationIn,
    destination_of,
    load_products,
)

if TYPE_CHECKING:
    from bonestore.domain.catalog import Product
    from bonestore.domain.geo import Destination
    from bonestore.domain.rules import CartDecision, CartLine, Engine
    from bonestore.service.ports import OncePerKey, OrderStore, PaymentGateway, ProductStore

log = logging.getLogger("bonestore.service.checkout")

# Countries Stripe Checkout accepts in shipping_address_collection.allowed_countries
# (the enum of that parameter in stripe-python v16; tests compare them).
STRIPE_SHIPPING_COUNTRIES: frozenset[str] = frozenset(
    """
    AC AD AE AF AG AI AL AM AO AQ AR AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN
    BO BQ BR BS BT BV BW BY BZ CA CD CF CG CH CI CK CL CM CN CO CR CV CW CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ
    GR GS GT GU GW GY HK HN HR HT HU ID IE IL IM IN IO IQ IS IT JE JM JO JP KE KG KH KI
    KM KN KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MK ML MM MN MO
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK
    PL PM PN PR PS PT PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR
    SS ST SV SX SZ TA TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG US UY UZ VA
    VC VE VG VN VU WF WS XK YE YT ZA ZM ZW ZZ
    """.split()  # noqa: SIM905 - compact, like the spec enum
)
STRIPE_MAX_SHIPPING_OPTIONS = 5
# Stripe wants expires_at at least 30 minutes after it creates the session: a margin
# keeps a slow round trip from turning a valid request into a rejected one.
EXPIRY_MARGIN_SECONDS = 60
URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"

HttpUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        pattern=URL_PATTERN,
        examples=["https://shop.example.com/thanks"],
    ),
]
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        examples=["jane@example.com"],
    ),
]


class CheckoutRequest(BaseModel):
    """``POST /checkout``. Unknown keys (a client's prices, totals) are ignored."""

    model_config = ConfigDict(extra="ignore")

    items: CartItems
    destination: DestinationIn | None = None
    email: Email | None = None
    success_url: HttpUrl
    cancel_url: HttpUrl


@dataclass(frozen=True)
class PricedLine:
    product: Product
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        return self.unit_price.times(self.quantity)

    def order_line(self) -> OrderLine:
        return OrderLine(
            sku=self.product.sku,
            quantity=self.quantity,
            unit_price=self.unit_price,
            product=self.product.model_dump(mode="json"),
        )


@dataclass(frozen=True)
class CheckoutPlan:
    """Everything decided before any write: the order to store and the session to open."""

    order: Order
    session: SessionRequest
    decision: CartDecision | None
    allowed_countries: list[str] | None
    expires_at: datetime


def merge_items(items: list[Any]) -> list[tuple[str, int]]:
    """One (SKU, quantity) per SKU, first-seen order; SKUs upper-cased."""
    totals: dict[str, int] = {}
    for item in items:
        sku = item.sku.strip().upper()
        totals[sku] = totals.get(sku, 0) + item.quantity
    over = [sku for sku, quantity in totals.items() if quantity > MAX_QUANTITY]
    if over:
        raise InvalidInput(
            f"At most {MAX_QUANTITY} of one product per order ({over[0]}).",
            code="invalid_quantity",
            details=[{"field": "items", "sku": sku} for sku in over],
        )
    return list(totals.items())


def price_lines(merged: list[tuple[str, int]], products: dict[str, Product]) -> list[PricedLine]:
    lines = [PricedLine(products[sku], quantity, products[sku].price) for sku, quantity in merged]
    currencies = {line.unit_price.currency for line in lines}
    if len(currencies) > 1:
        raise InvalidInput(
            "All products in one checkout must be priced in the same currency.",
            code="mixed_currency",
        )
    return lines


def cart_lines_of(lines: list[PricedLine]) -> list[CartLine]:
    from bonestore.domain.rules import CartLine

    return [CartLine(line.product, line.quantity) for line in lines]


def not_shippable(decision: CartDecision) -> Unprocessable:
    refused = [item.sku for item in decision.items if not item.eligible]
    return Unprocessable(
        f"Some items cannot ship to {decision.destination.country}: {', '.join(refused)}.",
        code="not_shippable",
        details=[item.to_json() for item in decision.items],
    )


def shipping_countries(engine: Engine, lines: list[CartLine], at: datetime) -> list[str]:
    return [cc for cc in engine.allowed_countries(lines, at) if cc in STRIPE_SHIPPING_COUNTRIES]


def plan_checkout(
    request: CheckoutRequest,
    products: dict[str, Product],
    *,
    engine: Engine,
    order_id: str,
    now: datetime,
    expiry_minutes: int,
    destination: Destination | None,
) -> CheckoutPlan:
    """Price, decide and describe a checkout; raises the contract's 4xx errors."""
    lines = price_lines(merge_items(request.items), products)
    physical = [line for line in lines if line.product.kind == "physical"]
    if physical and destination is None:
        raise InvalidInput(
            "A cart with physical products needs destination.country.",
            code="destination_required",
            details=[{"field": "destination.country"}],
        )
    rule_lines = cart_lines_of(lines)
    decision = engine.decide(rule_lines, destination, now) if destination is not None else None
    if decision is not None and not decision.eligible:
        raise not_shippable(decision)

    allowed: list[str] | None = None
    if physical:
        assert destination is not None and decision is not None
        allowed = shipping_countries(engine, rule_lines, now)
        if destination.country not in allowed:
            # Eligible at the full address but not on the country alone, or a country
            # Stripe does not ship to: never open a session the customer cannot pay.
            reason = (
                "Stripe cannot collect addresses there"
                if destination.country not in STRIPE_SHIPPING_COUNTRIES
                else "the cart cannot ship to every address there"
            )
            raise Unprocessable(
                f"Checkout is not available for {destination.country}: {reason}.",
                code="not_shippable",
                details=[item.to_json() for item in decision.items],
            )
        if not decision.shipping_methods:
            raise Unprocessable(
                f"No shipping method reaches {destination.country} for this cart.",
                code="not_shippable",
                details=[item.to_json() for item in decision.items],
            )

    currency = lines[0].unit_price.currency
    subtotal = Money(amount=sum(line.line_total.amount for line in lines), currency=currency)
    expires_at = (now + timedelta(minutes=expiry_minutes, seconds=EXPIRY_MARGIN_SECONDS)).replace(
        microsecond=0
    )
    created = iso(now)
    ruleset_version = decision.ruleset_version if decision else engine.version
    order = Order(
        order_id=order_id,
        status="pending_payment",
        created_at=created,
        updated_at=created,
        currency=currency,
        lines=tuple(line.order_line() for line in lines),
        amount_subtotal=subtotal,
        amount_total=subtotal,
        email=request.email,
        destination=destination,
        eligibility_at_checkout=decision.to_json() if decision is not None else None,
        ruleset_version=ruleset_version,
        allowed_countries=tuple(allowed) if allowed is not None else None,
        stock_lines=merge_stock_lines([(line.product.sku, line.quantity) for line in physical]),
        reservation_expires_at=iso(expires_at),
        events=(
            OrderEvent(
                "checkout_created",
                {
                    "eligible": True,
                    "ruleset_version": ruleset_version,
                    "allowed_countries": len(allowed) if allowed is not None else None,
                },
                at=created,
            ),
        ),
    )
    options = (
        tuple(
            ShippingChoice(method.id, method.name, method.price)
            for method in decision.shipping_methods[:STRIPE_MAX_SHIPPING_OPTIONS]
        )
        if physical and decision is not None
        else ()
    )
    session = SessionRequest(
        order_id=order_id,
        lines=order.lines,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        expires_at=int(expires_at.timestamp()),
        email=request.email,
        allowed_countries=tuple(allowed) if allowed is not None else None,
        shipping_options=options,
    )
    return CheckoutPlan(order, session, decision, allowed, expires_at)


def shipping_rate_ids(session: CheckoutSession, decision: CartDecision | None) -> dict[str, str]:
    """The provider's shipping rate id -> our method id (the options keep their order)."""
    if decision is None:
        return {}
    return {
        rate_id: method.id
        for rate_id, method in zip(
            session.shipping_option_rate_ids, decision.shipping_methods, strict=False
        )
    }


def created_body(plan: CheckoutPlan, session: CheckoutSession) -> dict[str, Any]:
    """The 201 body."""
    order = plan.order
    return {
        "order_id": order.order_id,
        "checkout_url": session.url,
        "stripe_session_id": session.session_id,
        "allowed_countries": plan.allowed_countries,
        "amount_subtotal": order.amount_subtotal.as_json(),
        "shipping_methods": [m.to_json() for m in plan.decision.shipping_methods]
        if plan.decision is not None
        else [],
        "expires_at": order.reservation_expires_at,
        "eligibility": plan.decision.to_json() if plan.decision is not None else None,
    }


class CheckoutService:
    """``POST /checkout``: plan, reserve stock with the order (one transaction), open the
    hosted checkout. When the provider fails the reservation is released and the order
    marked ``payment_failed`` before the error leaves: nothing is left half done."""

    def __init__(
        self,
        products: ProductStore,
        orders: OrderStore,
        *,
        gateway: Callable[[], PaymentGateway],
        engine: Callable[[], Engine],
        once_per_key: OncePerKey,
        expiry_minutes: int,
    ) -> None:
        self.products = products
        self.orders = orders
        self._gateway = gateway
        self._engine = engine
        self.once_per_key = once_per_key
        self.expiry_minutes = expiry_minutes

    def create(self, request: CheckoutRequest, *, idempotency_key: str | None) -> dict[str, Any]:
        """The 201 body; a retry with the same Idempotency-Key gets the first answer."""
        if idempotency_key is None:
            return self._create(request)
        if not 1 <= len(idempotency_key) <= 255 or not idempotency_key.isprintable():
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 printable characters.",
                code="invalid_idempotency_key",
            )
        try:
            return self.once_per_key(
                idempotency_key, request.model_dump(mode="json"), lambda: self._create(request)
            )
        except IdempotencyKeyReused as exc:
            raise Conflict(exc.message, code="idempotency_key_reused") from None
        except RequestInProgress as exc:
            raise Conflict(exc.message, code="request_in_progress") from None

    def _create(self, request: CheckoutRequest) -> dict[str, Any]:
        destination = destination_of(request.destination) if request.destination else None
        catalog = load_products(self.products, [item.sku for item in request.items])
        plan = plan_checkout(
            request,
            catalog,
            engine=self._engine(),
            order_id=new_order_id(),
            now=datetime.now(UTC),
            expiry_minutes=self.expiry_minutes,
            destination=destination,
        )
        order = self.orders.create_with_reservation(plan.order)
        try:
            session = self._gateway().create_checkout_session(
                plan.session, idempotency_key=f"checkout-{order.order_id}"
            )
        except Exception as exc:
            self._release(order, exc)
            raise
        try:
            self.orders.save(
                order,
                replace(
                    order,
                    stripe_session_id=session.session_id,
                    checkout_url=session.url,
                    shipping_rate_ids=shipping_rate_ids(session, plan.decision),
                ),
                event=OrderEvent("stripe_session_created", {"session_id": session.session_id}),
            )
        except Exception:
            # The session exists and the order holds the stock; the webhook finds the order
            # by metadata.order_id, and the sweeper releases it if nobody pays.
            log.exception("order %s: could not record the Stripe session", order.order_id)
        log.info(
            "checkout created",
            extra={
                "order_id": order.order_id,
                "email": mask_email(request.email),
                "destination": mask_destination(
                    order.destination.as_json() if order.destination else None
                ),
                "lines": len(order.lines),
                "ruleset_version": order.ruleset_version,
            },
        )
        return created_body(plan, session)

    def _release(self, order: Order, exc: Exception) -> None:
        """The provider failed: release the stock and mark the order failed, before answering."""
        code = exc.code if isinstance(exc, BonestoreError) else type(exc).__name__
        try:
            self.orders.transition(
                order,
                "payment_failed",
                event=OrderEvent("stripe_session_failed", {"error": code}),
                updated=replace(order, failure=code),
            )
        except Exception:
            log.exception("order %s: could not release a failed checkout", order.order_id)
