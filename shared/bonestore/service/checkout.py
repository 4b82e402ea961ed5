"""Checkout, pure: price a cart from the catalog, decide it, and build the order record
and the Stripe Checkout Session parameters. No I/O; the function wires adapters around it.

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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bonestore.domain.errors import InvalidInput, Unprocessable
from bonestore.domain.money import Money
from bonestore.service.carts import MAX_QUANTITY, CartItems, DestinationIn

if TYPE_CHECKING:
    from bonestore.domain.catalog import Product
    from bonestore.domain.geo import Destination
    from bonestore.domain.rules import CartDecision, CartLine, Engine

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

    def as_order_item(self) -> dict[str, Any]:
        return {
            "sku": self.product.sku,
            "quantity": self.quantity,
            "unit_price": self.unit_price.as_json(),
            "line_total": self.line_total.as_json(),
            "product": self.product.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class CheckoutPlan:
    """Everything decided before any write: the order to store and the session to open."""

    order: dict[str, Any]
    session_params: dict[str, Any]
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
    from bonestore.adapters.orders import merge_stock_lines

    order: dict[str, Any] = {
        "order_id": order_id,
        "status": "pending_payment",
        "created_at": created,
        "updated_at": created,
        "email": request.email,
        "email_lc": request.email.strip().lower() if request.email else None,
        "items": [line.as_order_item() for line in lines],
        "currency": currency,
        "amount_subtotal": subtotal.as_json(),
        "shipping": None,
        "amount_total": subtotal.as_json(),
        "destination": destination.as_json() if destination is not None else None,
        "eligibility_at_checkout": decision.to_json() if decision is not None else None,
        "eligibility_at_payment": None,
        "ruleset_version": decision.ruleset_version if decision else engine.version,
        "allowed_countries": allowed,
        "stock_lines": merge_stock_lines([(line.product.sku, line.quantity) for line in physical]),
        "reservation_expires_at": iso(expires_at),
        "events": [
            {
                "at": created,
                "type": "checkout_created",
                "detail": {
                    "eligible": True,
                    "ruleset_version": decision.ruleset_version if decision else engine.version,
                    "allowed_countries": len(allowed) if allowed is not None else None,
                },
            }
        ],
    }
    params = session_params(
        order_id=order_id,
        lines=lines,
        decision=decision if physical else None,
        allowed_countries=allowed,
        request=request,
        expires_at=expires_at,
    )
    return CheckoutPlan(order, params, decision, allowed, expires_at)


def session_params(
    *,
    order_id: str,
    lines: list[PricedLine],
    decision: CartDecision | None,
    allowed_countries: list[str] | None,
    request: CheckoutRequest,
    expires_at: datetime,
) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` parameters (payment mode, inline prices)."""
    metadata = {"order_id": order_id}
    params: dict[str, Any] = {
        "mode": "payment",
        "client_reference_id": order_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "line_items": [
            {
                "quantity": line.quantity,
                "price_data": {
                    "currency": line.unit_price.currency.lower(),
                    "unit_amount": line.unit_price.amount,
                    "product_data": {
                        "name": line.product.name,
                        "metadata": {"sku": line.product.sku},
                    },
                },
            }
            for line in lines
        ],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "expires_at": int(expires_at.timestamp()),
        # Always a billing address: its country is screened for embargoes at payment.
        "billing_address_collection": "required",
    }
    if request.email:
        params["customer_email"] = request.email
    if allowed_countries is not None and decision is not None:
        params["shipping_address_collection"] = {"allowed_countries": list(allowed_countries)}
        params["shipping_options"] = [
            {
                "shipping_rate_data": {
                    "type": "fixed_amount",
                    "display_name": method.name,
                    "fixed_amount": {
                        "amount": method.price.amount,
                        "currency": method.price.currency.lower(),
                    },
                    "metadata": {"method_id": method.id, "order_id": order_id},
                }
            }
            for method in decision.shipping_methods[:STRIPE_MAX_SHIPPING_OPTIONS]
        ]
    return params


def shipping_rate_ids(session: dict[str, Any], decision: CartDecision | None) -> dict[str, str]:
    """Stripe's shipping rate id -> our method id (Stripe keeps the options' order)."""
    if decision is None:
        return {}
    options = session.get("shipping_options") or []
    found: dict[str, str] = {}
    for option, method in zip(options, decision.shipping_methods, strict=False):
        rate = option.get("shipping_rate")
        rate_id = rate.get("id") if isinstance(rate, dict) else rate
        if isinstance(rate_id, str):
            found[rate_id] = method.id
    return found


def created_body(plan: CheckoutPlan, session: dict[str, Any]) -> dict[str, Any]:
    """The 201 body."""
    order = plan.order
    return {
        "order_id": order["order_id"],
        "checkout_url": session.get("url"),
        "stripe_session_id": session.get("id"),
        "allowed_countries": plan.allowed_countries,
        "amount_subtotal": order["amount_subtotal"],
        "shipping_methods": [m.to_json() for m in plan.decision.shipping_methods]
        if plan.decision is not None
        else [],
        "expires_at": order["reservation_expires_at"],
        "eligibility": plan.decision.to_json() if plan.decision is not None else None,
    }


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
