"""The emulator's in-memory Stripe account: objects, state transitions and events.

Every public method takes the lock; none does network I/O. Methods that make
Stripe send events return the new event ids: the caller delivers them once the
lock is released (the webhook receiver may call back into the emulator).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors, objects
from .checkout import SessionInput
from .objects import Obj

DECLINED_CARDS = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
DEFAULT_CARD = "4242424242424242"


@dataclass
class PaymentInput:
    """What a customer enters on the hosted page (or a ``_dev`` caller sends)."""

    email: str | None = None
    name: str | None = None
    billing_address: Obj | None = None
    shipping: Obj | None = None  # {"name": str, "address": {...}}
    shipping_rate: str | None = None
    card_number: str = DEFAULT_CARD
    asynchronous: bool = False


@dataclass
class SessionState:
    line_items: list[Obj]
    intent_metadata: dict[str, str]
    intent_description: str | None
    fixed_shipping: Obj | None = None  # payment_intent_data[shipping]


@dataclass
class EventRecord:
    event: Obj
    attempts: list[Obj] = field(default_factory=list)


@dataclass
class IdempotencyRecord:
    fingerprint: tuple[str, str, str]
    status: int | None = None  # None while the first request is still running
    body: bytes = b""
    request_id: str = ""


def _same_text(given: str | None, fixed: str | None) -> bool:
    """The same address field, ignoring case and spacing (as a person reading it would)."""

    def norm(value: str | None) -> str:
        return " ".join((value or "").split()).casefold()

    return norm(given) == norm(fixed)


def _same_field(key: str, given: str | None, fixed: str | None, country: str | None) -> bool:
    """One address field equal to the fixed one: a state as ``HI`` or ``US-HI``, a postal
    code with or without its space, any text in any case."""

    def norm(value: str | None) -> str | None:
        if value is None:
            return None
        if key == "state" and country and value.upper().startswith(f"{country.upper()}-"):
            return value[len(country) + 1 :]
        if key == "postal_code":
            return value.replace(" ", "").replace("-", "")
        return value

    return _same_text(norm(given), norm(fixed))


def luhn_ok(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


class Store:
    def __init__(
        self,
        *,
        base_url: Callable[[], str],
        api_version: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self._base_url = base_url
        self._api_version = api_version
        self._clock = clock
        self.clock_offset = 0.0
        self.webhooks_enabled = False
        self._objects: dict[str, Obj] = {}
        self._sessions: dict[str, SessionState] = {}
        self._events: dict[str, EventRecord] = {}
        self.idempotency: dict[str, IdempotencyRecord] = {}

    # -- time and lookup -------------------------------------------------

    def now(self) -> int:
        return int(self._clock() + self.clock_offset)

    def lookup(self, object_id: str) -> Obj | None:
        """The stored object itself (callers must hold the lock and not leak it)."""
        return self._objects.get(object_id)

    def all_objects(self, kind: str) -> list[Obj]:
        """Stored objects of one kind, newest first (callers must hold the lock)."""
        return [obj for obj in reversed(self._objects.values()) if obj.get("object") == kind]

    def get(self, kind: str, object_id: str, param: str = "id") -> Obj:
        with self.lock:
            obj = self._objects.get(object_id)
            if obj is None or obj.get("object") != kind:
                raise errors.not_found(kind, object_id, param)
            return copy.deepcopy(obj)

    def render(self, obj: Obj, expand: list[str]) -> Obj:
        """A copy of ``obj`` with Stripe's ``expand[]`` paths resolved."""
        with self.lock:
            result = copy.deepcopy(obj)
            for dotted in expand:
                self._expand(result, dotted.split("."), dotted)
            return result

    def _expand(self, node: Any, segments: list[str], dotted: str) -> None:
        if isinstance(node, list):
            for item in node:
                self._expand(item, segments, dotted)
            return
        if not isinstance(node, dict):
            raise errors.invalid("expand", f"This property cannot be expanded ({dotted}).")
        key, rest = segments[0], segments[1:]
        if key == "line_items" and node.get("object") == "checkout.session":
            value: Any = self.line_items_list(node["id"])
        else:
            if key not in node:
                raise errors.invalid("expand", f"This property cannot be expanded ({dotted}).")
            value = node[key]
            if isinstance(value, str):
                stored = self._objects.get(value)
                if stored is None:
                    raise errors.invalid("expand", f"This property cannot be expanded ({dotted}).")
                value = copy.deepcopy(stored)
        node[key] = value
        if rest and value is not None:
            self._expand(value, rest, dotted)

    def line_items_list(self, session_id: str) -> Obj:
        with self.lock:
            state = self._sessions.get(session_id)
            if state is None:
                raise errors.not_found("checkout.session", session_id, "session")
            return objects.list_object(
                copy.deepcopy(state.line_items), f"/v1/checkout/sessions/{session_id}/line_items"
            )

    # -- checkout sessions -----------------------------------------------

    def create_session(self, data: SessionInput) -> Obj:
        with self.lock:
            now = self.now()
            items = []
            for line in data.lines:
                price = line.existing_price
                if price is None:
                    product = objects.product(
                        line.name, line.description, line.product_metadata, now
                    )
                    self._objects[product["id"]] = product
                    price = objects.price(product["id"], line.currency, line.unit_amount, now)
                    self._objects[price["id"]] = price
                items.append(objects.line_item(copy.deepcopy(price), line.quantity, line.name))
            options = []
            for option in data.shipping:
                rate = option.existing_rate
                if rate is None:
                    rate = objects.shipping_rate(
                        option.display_name, option.amount, option.currency, option.metadata, now
                    )
                    self._objects[rate["id"]] = rate
                options.append({"shipping_amount": option.amount, "shipping_rate": rate["id"]})
            session_id = objects.new_id("cs_test_a1", 56)
            session = objects.checkout_session(
                session_id=session_id,
                created=now,
                expires_at=data.expires_at or now + 24 * 60 * 60,
                currency=data.currency,
                amount_subtotal=sum(item["amount_subtotal"] for item in items),
                url=f"{self._base_url()}/c/pay/{session_id}",
                params=data.fields,
                shipping_options=options,
            )
            self._objects[session_id] = session
            self._sessions[session_id] = SessionState(
                line_items=items,
                intent_metadata=data.intent_metadata,
                intent_description=data.intent_description,
                fixed_shipping=data.fixed_shipping,
            )
            return copy.deepcopy(session)

    def fixed_shipping(self, session_id: str) -> Obj | None:
        """The address a session's merchant fixed (``payment_intent_data[shipping]``)."""
        with self.lock:
            state = self._sessions.get(session_id)
            return copy.deepcopy(state.fixed_shipping) if state else None

    def _open_session(self, session_id: str) -> Obj:
        session = self._objects.get(session_id)
        if session is None or session.get("object") != "checkout.session":
            raise errors.not_found("checkout.session", session_id, "session")
        if session["status"] == "open" and session["expires_at"] <= self.now():
            self._expire(session, None)
        return session

    def expire_session(self, session_id: str, request: Obj | None) -> tuple[Obj, list[str]]:
        with self.lock:
            session = self._open_session(session_id)
            if session["status"] != "open":
                raise errors.invalid(
                    None,
                    'Only Checkout Sessions with a status in ["open"] can be expired. '
                    f'This Checkout Session has a status of "{session["status"]}".',
                    code="checkout_session_not_open",
                )
            event_id = self._expire(session, request)
            return copy.deepcopy(session), [event_id]

    def _expire(self, session: Obj, request: Obj | None) -> str:
        session["status"] = "expired"
        session["url"] = None
        return self._event("checkout.session.expired", session, None, request)

    def expire_due(self) -> list[str]:
        """Expire open sessions whose ``expires_at`` has passed (Stripe's own sweep)."""
        with self.lock:
            now = self.now()
            return [
                self._expire(obj, None)
                for obj in list(self._objects.values())
                if obj.get("object") == "checkout.session"
                and obj["status"] == "open"
                and obj["expires_at"] <= now
            ]

    def complete_session(self, session_id: str, pay: PaymentInput) -> tuple[Obj, list[str]]:
        """Pay an open session as the hosted page does; raises StripeError when refused."""
        with self.lock:
            session = self._open_session(session_id)
            if session["status"] != "open":
                raise errors.StripeError(
                    400,
                    f"This Checkout Session is {session['status']}, not open: "
                    "it can no longer be paid.",
                    code="checkout_session_not_open",
                )
            state = self._sessions[session_id]
            shipping: Obj | None
            if state.fixed_shipping is not None:
                shipping = self._checked_fixed_shipping(state.fixed_shipping, pay.shipping)
            else:
                shipping = self._checked_shipping(session, pay.shipping)
            option = self._chosen_option(session, pay.shipping_rate)
            billing = self._checked_billing(session, pay, shipping)
            self._check_card(pay.card_number)

            now = self.now()
            amount_shipping = option["shipping_amount"] if option else 0
            if option is not None:
                session["shipping_cost"] = objects.shipping_cost(option)
            session["total_details"]["amount_shipping"] = amount_shipping
            session["amount_total"] = session["amount_subtotal"] + amount_shipping
            email = billing["email"]
            if state.fixed_shipping is not None:
                intent_shipping: Obj | None = copy.deepcopy(state.fixed_shipping)
            elif shipping is not None:
                intent_shipping = {
                    "address": shipping["address"],
                    "carrier": None,
                    "name": shipping["name"],
                    "phone": None,
                    "tracking_number": None,
                }
            else:
                intent_shipping = None
            status = "processing" if pay.asynchronous else "succeeded"
            intent = objects.payment_intent(
                amount=session["amount_total"],
                currency=session["currency"],
                created=now,
                metadata=dict(state.intent_metadata),
                payment_method=objects.new_id("pm_"),
                shipping=intent_shipping,
                receipt_email=email,
                status=status,
            )
            intent["description"] = state.intent_description
            charge = objects.charge(
                intent=intent,
                created=now,
                billing=billing,
                last4=pay.card_number[-4:],
                status="pending" if pay.asynchronous else "succeeded",
                receipt_url="",
            )
            charge["receipt_url"] = f"{self._base_url()}/receipts/{charge['id']}"
            intent["latest_charge"] = charge["id"]
            self._objects[intent["id"]] = intent
            self._objects[charge["id"]] = charge

            session["status"] = "complete"
            session["payment_status"] = "unpaid" if pay.asynchronous else "paid"
            session["payment_intent"] = intent["id"]
            session["url"] = None
            session["customer_details"] = objects.customer_details(
                email, billing["name"], billing["address"]
            )
            session["collected_information"] = {
                "business_name": None,
                "individual_name": None,
                # A fixed address was given, not collected: it is on the PaymentIntent (and
                # its Charge) as ``shipping``, and Checkout collected none of its own.
                "shipping_details": None if state.fixed_shipping is not None else shipping,
            }
            event_id = self._event("checkout.session.completed", session, None, None)
            return copy.deepcopy(session), [event_id]

    def _checked_shipping(self, session: Obj, shipping: Obj | None) -> Obj | None:
        collection = session["shipping_address_collection"]
        if collection is None:
            if shipping is not None:
                raise errors.invalid(
                    "shipping_details",
                    "This Checkout Session does not collect a shipping address.",
                    code="parameter_unknown",
                )
            return None
        if shipping is None:
            raise errors.missing("shipping_details")
        name = shipping.get("name")
        if not isinstance(name, str) or not name.strip():
            raise errors.missing("shipping_details[name]")
        addr = shipping.get("address")
        if not isinstance(addr, dict):
            raise errors.missing("shipping_details[address]")
        result: Obj = {
            "name": name.strip(),
            "address": self._checked_address(addr, "shipping_details"),
        }
        country = result["address"]["country"]
        allowed: list[str] = collection["allowed_countries"]
        if country not in allowed:
            raise errors.invalid(
                "shipping_details[address][country]",
                f"This Checkout Session does not ship to {country}: the allowed countries "
                f"are {', '.join(allowed)}.",
                code="shipping_country_not_allowed",
            )
        return result

    def _checked_fixed_shipping(self, fixed: Obj, given: Obj | None) -> Obj:
        """The fixed address; a ``shipping_details`` naming another one is refused.

        Stripe's page shows a fixed address read-only, so no customer can pay with
        another: a caller that tries gets what the page would never let through.
        """
        result = {"name": fixed["name"], "address": dict(fixed["address"])}
        if given is None:
            return result
        name = given.get("name")
        addr = given.get("address")
        if not isinstance(addr, dict):
            raise errors.missing("shipping_details[address]")
        checked = self._checked_address(addr, "shipping_details", required=())
        if name is not None and not isinstance(name, str):
            raise errors.invalid("shipping_details[name]", "name must be a string")
        same_name = name is None or _same_text(name, fixed["name"])
        country = fixed["address"].get("country")
        same_address = all(
            _same_field(key, checked[key], fixed["address"].get(key), country) for key in checked
        )
        if not (same_name and same_address):
            raise errors.invalid(
                "shipping_details[address]",
                "This Checkout Session ships to the address the merchant gave "
                "(payment_intent_data[shipping]); it cannot be changed at payment.",
                code="shipping_address_fixed",
            )
        return result

    @staticmethod
    def _checked_address(
        addr: Obj, where: str, required: tuple[str, ...] = ("line1", "country")
    ) -> Obj:
        result = objects.empty_address()
        for key in result:
            value = addr.get(key)
            if value is not None and not isinstance(value, str):
                raise errors.invalid(f"{where}[address][{key}]", f"{key} must be a string")
            result[key] = (value.strip() or None) if isinstance(value, str) else None
        for key in required:  # many countries have no postal code or state
            if result[key] is None:
                raise errors.missing(f"{where}[address][{key}]")
        if result["country"] is None:
            return result
        country = str(result["country"]).upper()
        if len(country) != 2 or not country.isalpha() or not country.isascii():
            raise errors.invalid(
                f"{where}[address][country]", f"Invalid country: {result['country']}"
            )
        result["country"] = country
        return result

    @staticmethod
    def _chosen_option(session: Obj, rate_id: str | None) -> Obj | None:
        options: list[Obj] = session["shipping_options"]
        if rate_id is None:
            return options[0] if options else None
        for option in options:
            if option["shipping_rate"] == rate_id:
                return option
        raise errors.invalid(
            "shipping_rate", f"{rate_id} is not one of this Checkout Session's shipping options."
        )

    def _checked_billing(self, session: Obj, pay: PaymentInput, shipping: Obj | None) -> Obj:
        email = pay.email or session["customer_email"] or "customer@example.com"
        name = pay.name or (shipping["name"] if shipping else None)
        if pay.billing_address is not None:
            if session["billing_address_collection"] == "required":
                # Stripe's billing collection may ask only for what the card network
                # needs (country, sometimes postal code): the country is what we screen.
                addr = self._checked_address(
                    pay.billing_address, "customer_details", required=("country",)
                )
            else:
                addr = objects.address(pay.billing_address)
                if addr["country"]:
                    addr["country"] = str(addr["country"]).upper()
        elif shipping is not None:
            addr = dict(shipping["address"])  # "billing address same as shipping"
        elif session["billing_address_collection"] == "required":
            raise errors.missing("customer_details[address]")
        else:
            addr = objects.empty_address()
        return {"email": email, "name": name, "address": addr}

    @staticmethod
    def _check_card(number: str) -> None:
        if number in DECLINED_CARDS:
            code, decline_code, message = DECLINED_CARDS[number]
            raise errors.StripeError(
                402,
                message,
                type="card_error",
                code=code,
                param="card_number",
                decline_code=decline_code,
            )
        if not (number.isdigit() and 12 <= len(number) <= 19 and luhn_ok(number)):
            raise errors.StripeError(
                402,
                "Your card number is incorrect.",
                type="card_error",
                code="incorrect_number",
                param="card_number",
            )

    def settle_async(self, session_id: str, succeed: bool) -> tuple[Obj, list[str]]:
        with self.lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise errors.not_found("checkout.session", session_id, "session")
            intent = self._objects.get(session["payment_intent"] or "")
            if intent is None or intent["status"] != "processing":
                raise errors.invalid(
                    None,
                    "This Checkout Session has no delayed payment pending "
                    '(complete it with {"async": true} first).',
                    code="no_pending_payment",
                )
            charge = self._objects[intent["latest_charge"]]
            if succeed:
                intent["status"] = "succeeded"
                intent["amount_received"] = intent["amount"]
                charge.update(
                    status="succeeded",
                    paid=True,
                    captured=True,
                    amount_captured=charge["amount"],
                    balance_transaction=objects.new_id("txn_"),
                )
                session["payment_status"] = "paid"
                event_type = "checkout.session.async_payment_succeeded"
            else:
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {
                    "type": "invalid_request_error",
                    "code": "payment_method_provider_decline",
                    "message": "The payment was declined.",
                }
                charge.update(
                    status="failed",
                    failure_code="payment_method_provider_decline",
                    failure_message="The payment was declined.",
                )
                event_type = "checkout.session.async_payment_failed"
            return copy.deepcopy(session), [self._event(event_type, session, None, None)]

    # -- refunds -----------------------------------------------------------

    def create_refund(
        self,
        *,
        charge_id: str | None,
        intent_id: str | None,
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str],
        request: Obj,
    ) -> tuple[Obj, list[str]]:
        with self.lock:
            if charge_id is not None:
                charge = self._objects.get(charge_id)
                if charge is None or charge.get("object") != "charge":
                    raise errors.not_found("charge", charge_id, "charge")
                if intent_id is not None and charge["payment_intent"] != intent_id:
                    raise errors.invalid(
                        "payment_intent",
                        f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.",
                    )
            elif intent_id is not None:
                intent = self._objects.get(intent_id)
                if intent is None or intent.get("object") != "payment_intent":
                    raise errors.not_found("payment_intent", intent_id, "payment_intent")
                charge = self._objects.get(intent["latest_charge"] or "")
                if charge is None:
                    raise errors.invalid(
                        "payment_intent",
                        f"PaymentIntent {intent_id} does not have a successful charge to refund.",
                    )
            else:
                raise errors.StripeError(
                    400,
                    "One of the following params should be provided for this request: "
                    "payment_intent or charge.",
                    code="parameter_missing",
                    param="payment_intent",
                )
            if charge["status"] != "succeeded":
                raise errors.invalid(
                    "charge",
                    f"Charge {charge['id']} has status {charge['status']}: only succeeded "
                    "charges can be refunded.",
                    code="charge_not_refundable",
                )
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise errors.invalid(
                    "charge",
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                )
            if amount is None:
                amount = remaining
            elif amount > remaining:
                raise errors.invalid(
                    "amount",
                    f"Refund amount ({amount}) is greater than unrefunded amount on "
                    f"charge ({remaining}).",
                )
            refund = objects.refund(
                charge_obj=charge,
                amount=amount,
                reason=reason,
                metadata=metadata,
                created=self.now(),
            )
            self._objects[refund["id"]] = refund
            previous: Obj = {"amount_refunded": charge["amount_refunded"]}
            charge["amount_refunded"] += amount
            if charge["amount_refunded"] == charge["amount"]:
                previous["refunded"] = False
                charge["refunded"] = True
            refunds = charge["refunds"]
            previous["refunds"] = {"data": [], "total_count": refunds["total_count"]}
            previous["refunds"]["data"] = copy.deepcopy(refunds["data"])
            refunds["data"].insert(0, copy.deepcopy(refund))
            refunds["total_count"] += 1
            events = [
                self._event("charge.refunded", charge, previous, request),
                self._event("refund.created", refund, None, request),
            ]
            return copy.deepcopy(refund), events

    # -- events ------------------------------------------------------------

    def _event(self, event_type: str, obj: Obj, previous: Obj | None, request: Obj | None) -> str:
        event = objects.event(
            event_type=event_type,
            data_object=copy.deepcopy(obj),
            previous_attributes=previous,
            created=self.now(),
            api_version=self._api_version,
            request=request or {"id": None, "idempotency_key": None},
            pending_webhooks=1 if self.webhooks_enabled else 0,
        )
        self._events[event["id"]] = EventRecord(event)
        self._objects[event["id"]] = event
        return str(event["id"])

    def event_payload(self, event_id: str) -> bytes:
        with self.lock:
            return json.dumps(self._events[event_id].event, indent=2).encode()

    def record_attempt(self, event_id: str, attempt: Obj) -> None:
        with self.lock:
            record = self._events[event_id]
            record.attempts.append(attempt)
            if attempt["status"] is not None and 200 <= attempt["status"] < 300:
                record.event["pending_webhooks"] = 0

    def event_records(self, event_type: str | None = None) -> list[Obj]:
        with self.lock:
            return [
                {"event": copy.deepcopy(r.event), "attempts": copy.deepcopy(r.attempts)}
                for r in reversed(self._events.values())
                if event_type is None or r.event["type"] == event_type
            ]

    def has_event(self, event_id: str) -> bool:
        with self.lock:
            return event_id in self._events
