"""Checkout: price a cart from the catalog, decide it on the address the parcel goes to,
reserve its stock with the new order, and open the payment provider's hosted checkout
for exactly that address and shipping method. ``plan_checkout`` is pure;
``CheckoutService`` runs the use case over the ports (``bonestore.service.ports``).

Decisions (see also docs/api.md):

- Duplicate SKUs in a cart are merged into one line (quantities added; the sum must
  still be at most 999). Stock, Stripe and the rules all see one line per SKU.
- Prices, names and kinds come from the catalog only; price fields a client sends are
  ignored (the request models drop unknown keys).
- Address first (contract v2): a cart with physical goods needs the complete
  ``shipping_address`` (422 ``shipping_address_required`` without one, a v1
  ``destination`` included). The rules decide on exactly that address (line 1 too: PO
  boxes, APO/FPO/DPO) and the chosen method must be one they offer there (422
  ``shipping_method_unavailable`` with the rule's reason); without a method the
  cheapest offered is chosen. The session fixes the address (Stripe cannot change it)
  and offers only that method at the rules' price.
- A digital-only cart takes no address: a ``shipping_address``/``shipping_method`` sent
  with one is not kept (echoed as null), but the cart is decided on that address, as on
  a v1 ``destination``: an embargoed buyer is refused before paying.
- Reservation limits (``bonestore.domain.limits``): checkouts per minute per email and
  client address are counted first; the customer's share of a product's stock and of
  open checkouts is taken with the reservation (429 ``rate_limited`` past either). The
  same cart and email while its checkout is open answers that checkout, no new stock.
- The ``order_token`` is derived from the order id (``bonestore.domain.order_token``):
  the order stores only its hash, and an Idempotency-Key replay gets the same token
  without it ever being stored (the remembered answer omits it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from bonestore import log_context
from bonestore.domain.errors import (
    BonestoreError,
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    RequestInProgress,
    Unprocessable,
)
from bonestore.domain.money import Money
from bonestore.domain.order import (
    Address,
    Order,
    OrderEvent,
    OrderLine,
    ShippingChoice,
    merge_stock_lines,
    quantities_by_sku,
)
from bonestore.domain.order_token import derive_order_token, order_token_hash
from bonestore.domain.orders import iso, new_order_id
from bonestore.domain.payment import CheckoutSession, SessionRequest
from bonestore.domain.privacy import mask_destination, mask_email
from bonestore.service import metrics as m
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
    from bonestore.domain.limits import HoldLimits, RateLimits
    from bonestore.domain.rules import CartDecision, CartLine, Engine
    from bonestore.service.ports import (
        BusinessMetrics,
        CheckoutRateLimiter,
        OncePerKey,
        OrderStore,
        PaymentGateway,
        ProductStore,
    )

log = logging.getLogger("bonestore.service.checkout")

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


class AddressIn(BaseModel):
    """The contract's Address as sent; normalized by :func:`address_of`."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200, examples=["Jane Doe"])]
    line1: Annotated[str, Field(min_length=1, max_length=200, examples=["1 Main St"])]
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=200, examples=["Springfield"])]
    subdivision: Annotated[str, Field(max_length=64, examples=["US-IL"])] | None = None
    postal_code: Annotated[str, Field(max_length=32, examples=["62701"])] | None = None
    country: Annotated[str, Field(min_length=1, max_length=64, examples=["US"])]


class CheckoutRequest(BaseModel):
    """``POST /checkout``. Unknown keys (a client's prices, totals) are ignored."""

    model_config = ConfigDict(extra="ignore")

    items: CartItems
    destination: DestinationIn | None = None
    shipping_address: AddressIn | None = None
    shipping_method: Literal["standard", "express"] | None = None
    email: Email | None = None
    success_url: HttpUrl
    cancel_url: HttpUrl


class PricedLine(NamedTuple):
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


class CheckoutPlan(NamedTuple):
    """Everything decided before any write: the order to store and the session to open."""

    order: Order
    session: SessionRequest
    decision: CartDecision | None
    allowed_countries: list[str] | None
    expires_at: datetime
    shipping_address: Address | None = None
    shipping_method: ShippingChoice | None = None


def merge_items(items: list[Any]) -> list[tuple[str, int]]:
    """One (SKU, quantity) per SKU, first-seen order; SKUs upper-cased."""
    totals = quantities_by_sku((item.sku.strip().upper(), item.quantity) for item in items)
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


def refusing_rules_of(exc: Unprocessable) -> list[str]:
    """The rules behind a refused checkout: those refusing a line (``not_shippable``) or
    withdrawing the method asked for (``shipping_method_unavailable``)."""
    reasons: list[Any] = []
    for detail in exc.details or []:
        if not isinstance(detail, dict):
            continue
        if exc.code == "shipping_method_unavailable" or detail.get("eligible") is False:
            reasons += detail.get("reasons") or []
    return m.refusing_rules(reasons)


def address_of(raw: AddressIn) -> Address:
    """The address normalized as the contract echoes it (country and subdivision codes
    upper-cased, the postal code canonical), with the parts the country needs present."""
    from bonestore.domain.countries import (
        country_name,
        postal_code_required,
        subdivision_required,
        subdivisions,
    )
    from bonestore.domain.geo import normalize_destination

    field = "shipping_address"
    dest = normalize_destination(
        raw.model_dump(include={"country", "subdivision", "postal_code", "city", "line1"}),
        field=field,
    )
    if (
        dest.subdivision is None
        and subdivision_required(dest.country)
        and subdivisions(dest.country)
    ):
        raise InvalidInput(
            f"An address in {country_name(dest.country)} needs its state, province or region.",
            code="invalid_subdivision",
            details=[{"field": f"{field}.subdivision", "value": None}],
        )
    if dest.postal_code is None and postal_code_required(dest.country):
        raise InvalidInput(
            f"An address in {country_name(dest.country)} needs its postal code.",
            code="invalid_postal_code",
            details=[{"field": f"{field}.postal_code", "value": None}],
        )
    if dest.line1 is None or dest.city is None:
        missing = "line1" if dest.line1 is None else "city"
        raise InvalidInput(
            f"The shipping address needs {missing}.",
            code="invalid_address",
            details=[{"field": f"{field}.{missing}", "value": None}],
        )
    name = " ".join(raw.name.split())
    if not name:
        raise InvalidInput(
            "The shipping address needs the recipient's name.",
            code="invalid_address",
            details=[{"field": f"{field}.name", "value": None}],
        )
    return Address(
        country=dest.country,
        name=name,
        line1=dest.line1,
        line2=" ".join((raw.line2 or "").split()) or None,
        city=dest.city,
        subdivision=dest.subdivision,
        postal_code=dest.postal_code,
    )


def choose_method(decision: CartDecision, wanted: str | None) -> ShippingChoice:
    """The method the customer pays for: the one asked for, if the rules offer it at this
    address, else (none asked for) the cheapest offered. 422 with the reason otherwise."""
    offered = {quote.id: quote for quote in decision.shipping_methods}
    where = decision.destination.country
    if wanted is None:
        if not offered:
            raise Unprocessable(
                f"No shipping method reaches this address in {where} for this cart.",
                code="not_shippable",
                details=[item.to_json() for item in decision.items],
            )
        quote = min(decision.shipping_methods, key=lambda q: q.price.amount)
    elif wanted in offered:
        quote = offered[wanted]
    else:
        taken = next((m for m in decision.unavailable_shipping_methods if m.id == wanted), None)
        reasons = [r.as_json() for r in taken.reasons] if taken is not None else []
        why = " ".join(r["message"] for r in reasons) or (
            f"{wanted.capitalize()} shipping is not offered to this address."
        )
        raise Unprocessable(
            f"{why} Offered here: {', '.join(offered) or 'none'}.",
            code="shipping_method_unavailable",
            details=[
                {
                    "field": "shipping_method",
                    "method": wanted,
                    "reasons": reasons,
                    "offered": [q.to_json() for q in decision.shipping_methods],
                }
            ],
        )
    return ShippingChoice(quote.id, quote.name, quote.price)


def plan_checkout(
    request: CheckoutRequest,
    products: dict[str, Product],
    *,
    engine: Engine,
    order_id: str,
    now: datetime,
    expiry_minutes: int,
    destination: Destination | None,
    order_token: str,
) -> CheckoutPlan:
    """Price, decide and describe a checkout; raises the contract's 4xx errors."""
    lines = price_lines(merge_items(request.items), products)
    physical = [line for line in lines if line.product.kind == "physical"]
    address: Address | None = None
    if physical:
        if request.shipping_address is None:
            raise Unprocessable(
                "A cart with physical products needs the complete shipping_address "
                "(name, line1, city, country, and the state and postal code where the "
                "country uses them).",
                code="shipping_address_required",
                details=[{"field": "shipping_address"}],
            )
        address = address_of(request.shipping_address)
        destination = address.destination()
    elif request.shipping_address is not None and destination is None:
        # A digital-only cart needs no address, but one sent says where the buyer is: an
        # embargoed one is refused now, not only at payment (the billing address). It is
        # not kept as a shipping address: nothing ships.
        destination = address_of(request.shipping_address).destination()
    rule_lines = cart_lines_of(lines)
    decision = engine.decide(rule_lines, destination, now) if destination is not None else None
    if decision is not None and not decision.eligible:
        raise not_shippable(decision)

    allowed: list[str] | None = None
    method: ShippingChoice | None = None
    if physical:
        assert address is not None and decision is not None
        method = choose_method(decision, request.shipping_method)
        allowed = [address.country]

    currency = lines[0].unit_price.currency
    subtotal = Money(amount=sum(line.line_total.amount for line in lines), currency=currency)
    total = (
        subtotal
        if method is None
        else Money(amount=subtotal.amount + method.price.amount, currency=currency)
    )
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
        amount_total=total,
        email=request.email,
        destination=destination,
        shipping_address=address,
        shipping_method=method,
        order_token_hash=order_token_hash(order_token),
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
                    "shipping_method": method.method_id if method is not None else None,
                },
                at=created,
            ),
        ),
    )
    session = SessionRequest(
        order_id=order_id,
        lines=order.lines,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        expires_at=int(expires_at.timestamp()),
        email=request.email,
        shipping_address=address,
        shipping_options=(method,) if method is not None else (),
    )
    return CheckoutPlan(order, session, decision, allowed, expires_at, address, method)


def shipping_rate_ids(session: CheckoutSession, method: ShippingChoice | None) -> dict[str, str]:
    """The provider's shipping rate id -> our method id (one option is offered)."""
    if method is None:
        return {}
    return {rate_id: method.method_id for rate_id in session.shipping_option_rate_ids[:1]}


def created_body(order: Order) -> dict[str, Any]:
    """The 201 body, from the order as stored with its session (a reused checkout too)."""
    decision = order.eligibility_at_checkout
    return {
        "order_id": order.order_id,
        "checkout_url": order.checkout_url,
        "stripe_session_id": order.stripe_session_id,
        "shipping_address": order.shipping_address.as_json() if order.shipping_address else None,
        "shipping_method": order.shipping_method.method_json() if order.shipping_method else None,
        "allowed_countries": list(order.allowed_countries)
        if order.allowed_countries is not None
        else None,
        "amount_subtotal": order.amount_subtotal.as_json(),
        "shipping_methods": list(decision.get("shipping_methods") or []) if decision else [],
        "expires_at": order.reservation_expires_at,
        "eligibility": dict(decision) if decision is not None else None,
    }


def cart_parts(plan: CheckoutPlan, request: CheckoutRequest) -> dict[str, Any]:
    """What makes two checkouts the same cart: what the order and its session are made of."""
    order = plan.order
    return {
        "lines": [[line.sku, line.quantity] for line in order.lines],
        "destination": order.destination.as_json() if order.destination else None,
        "shipping_address": plan.shipping_address.as_json() if plan.shipping_address else None,
        "shipping_method": plan.shipping_method.method_id if plan.shipping_method else None,
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
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
        order_token_key: Callable[[], bytes],
        rate_limiter: CheckoutRateLimiter,
        hold_limits: HoldLimits,
        rate_limits: RateLimits,
        metrics: BusinessMetrics = m.NO_METRICS,
    ) -> None:
        self._order_token_key = order_token_key
        self.rate_limiter = rate_limiter
        self.hold_limits = hold_limits
        self.rate_limits = rate_limits
        self.metrics = metrics
        self.products = products
        self.orders = orders
        self._gateway = gateway
        self._engine = engine
        self.once_per_key = once_per_key
        self.expiry_minutes = expiry_minutes

    def create(
        self,
        request: CheckoutRequest,
        *,
        idempotency_key: str | None,
        client_address: str | None = None,
    ) -> dict[str, Any]:
        """The 201 body; a retry with the same Idempotency-Key gets the first answer (and
        the same ``order_token``, derived again: the remembered answer never holds it).
        ``client_address`` is the caller's address as the edge saw it (the limits count it)."""
        return self._with_token(self._created(request, idempotency_key, client_address))

    def _with_token(self, body: dict[str, Any]) -> dict[str, Any]:
        token = derive_order_token(self._order_token_key(), body["order_id"])
        return {"order_id": body["order_id"], "order_token": token, **body}

    def _created(
        self, request: CheckoutRequest, idempotency_key: str | None, client_address: str | None
    ) -> dict[str, Any]:
        if idempotency_key is None:
            return self._create(request, client_address)
        if not 1 <= len(idempotency_key) <= 255 or not idempotency_key.isprintable():
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 printable characters.",
                code="invalid_idempotency_key",
            )
        try:
            return self.once_per_key(
                idempotency_key,
                request.model_dump(mode="json"),
                lambda: self._create(request, client_address),
            )
        except IdempotencyKeyReused as exc:
            raise Conflict(exc.message, code="idempotency_key_reused") from None
        except RequestInProgress as exc:
            # As the same cart's checkout still opening (_reused): the first answer is a
            # moment away, and docs/api.md promises a Retry-After with this 409.
            error = Conflict(exc.message, code="request_in_progress")
            error.retry_after = 1
            raise error from None

    def _create(self, request: CheckoutRequest, client_address: str | None) -> dict[str, Any]:
        # Imported on the first checkout, not at the function's init (cold start).
        from bonestore.domain.limits import CartAlreadyOpen, cart_key, holder_key, rate_keys

        # Counted before any work: a refused script costs one conditional write per key.
        self.rate_limiter.hit(
            rate_keys(request.email, client_address, self.rate_limits), time.time()
        )
        destination = destination_of(request.destination) if request.destination else None
        catalog = load_products(self.products, [item.sku for item in request.items])
        order_id = new_order_id()
        try:
            plan = plan_checkout(
                request,
                catalog,
                engine=self._engine(),
                order_id=order_id,
                now=datetime.now(UTC),
                expiry_minutes=self.expiry_minutes,
                destination=destination,
                order_token=derive_order_token(self._order_token_key(), order_id),
            )
        except Unprocessable as exc:
            for rule_id in refusing_rules_of(exc):
                self.metrics.count(m.CHECKOUT_REFUSED_BY_RULE, by=rule_id)
            raise
        holder = holder_key(request.email, client_address)
        cart = cart_key(holder, cart_parts(plan, request)) if holder and request.email else None
        try:
            order = self.orders.create_with_reservation(
                replace(plan.order, holder=holder, cart_key=cart), limits=self.hold_limits
            )
        except CartAlreadyOpen as open_checkout:
            log_context.bind(order_id=open_checkout.order.order_id)
            return self._reused(open_checkout.order)
        log_context.bind(order_id=order.order_id)  # it exists: every later line names it
        try:
            session = self._gateway().create_checkout_session(
                plan.session, idempotency_key=f"checkout-{order.order_id}"
            )
        except Exception as exc:
            self._release(order, exc)
            raise
        opened = replace(
            order,
            stripe_session_id=session.session_id,
            checkout_url=session.url,
            shipping_rate_ids=shipping_rate_ids(session, plan.shipping_method),
        )
        try:
            self.orders.save(
                order,
                opened,
                event=OrderEvent("stripe_session_created", {"session_id": session.session_id}),
            )
        except Exception:
            # The session exists and the order holds the stock; the webhook finds the order
            # by metadata.order_id, and the sweeper releases it if nobody pays.
            log.exception("order %s: could not record the Stripe session", order.order_id)
        self.metrics.count(m.CHECKOUT_CREATED)
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
        return created_body(opened)

    def _reused(self, order: Order) -> dict[str, Any]:
        """The same cart and email while its checkout is open: that checkout again, no new stock."""
        if not order.checkout_url:
            error = Conflict(
                "A checkout for this cart is being opened; retry in a moment.",
                code="request_in_progress",
            )
            error.retry_after = 1
            raise error
        log.info(
            "checkout reused",
            extra={"order_id": order.order_id, "email": mask_email(order.email)},
        )
        return created_body(order)

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
