"""What must hold between the products and orders tables, checked on plain data.

Pure (no I/O): ``bonestore.adapters.invariants`` reads the tables (orders through
the repository's translation, as typed Orders), and ``bonestore check invariants``
(``bonestore_infra.check_cli``) and the fault-injection tests call
:func:`check_invariants` on what it read. Each violation names the product or order.

- Every physical product's counters balance: ``stock + reserved + sold == received``
  (``bonestore.adapters.products`` explains the four), none is negative, and
  ``reserved`` / ``sold`` equal what the orders say they hold / bought.
- An order's stock state fits its status: stock is held only by ``pending_payment``
  and ``held`` orders, and sold only by ``paid``, ``fulfilled`` and ``refunded`` ones.
- Every ``paid``, ``held``, ``fulfilled`` or ``refunded`` order with a non-zero
  charge records Stripe's payment.
- No checkout holds stock longer than its expiry plus the sweeper's lag (its grace
  period and schedule), unless its payment is under way (``awaiting_payment``).
- Given the ruleset's ingredient vocabulary: no product (active or not) names an
  ingredient outside it (stored before writes were checked), which the rules cannot judge.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bonestore.domain.catalog import normalize_ingredient
from bonestore.domain.order import quantities_by_sku
from bonestore.domain.orders import parse_iso

if TYPE_CHECKING:
    from bonestore.domain.order import Order

COUNTERS = ("stock", "reserved", "sold", "received")
PAYMENT_STATUSES = frozenset({"paid", "held", "fulfilled", "refunded"})
# Which stock states each status may be in (stock_state "none": nothing physical).
STOCK_STATES_BY_STATUS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"reserved", "none"}),
    "held": frozenset({"reserved", "none"}),
    "paid": frozenset({"committed", "none"}),
    "fulfilled": frozenset({"committed", "none"}),
    "refunded": frozenset({"committed", "released", "none"}),
    "payment_failed": frozenset({"released", "none"}),
    "expired": frozenset({"released", "none"}),
}


@dataclass(frozen=True)
class Violation:
    kind: str  # a stable snake_case name, e.g. "stock_unbalanced"
    subject: str  # "product SKU" or "order ID"
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.message}"


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def check_invariants(
    products: Iterable[Mapping[str, Any]],
    orders: Iterable[Order],
    *,
    now: datetime,
    reservation_lag: timedelta,
    skus: Collection[str] | None = None,
    vocabulary: Collection[str] | None = None,
) -> list[Violation]:
    """Every violation in these products (stored items) and orders (all of them: the
    sums need them).

    With ``skus``, only those products and the orders that touch them are judged (a
    test's own data in a shared table); with ``vocabulary``, ingredient names are too.
    """
    wanted = set(skus) if skus is not None else None
    held_lines: list[tuple[str, int]] = []
    bought_lines: list[tuple[str, int]] = []
    violations: list[Violation] = []
    for order in orders:
        lines = order.stock_lines
        if wanted is not None and not any(line.sku in wanted for line in lines):
            continue
        if order.stock_state == "reserved":
            held_lines += [(line.sku, line.quantity) for line in lines]
        elif order.stock_state == "committed":
            bought_lines += [(line.sku, line.quantity) for line in lines]
        violations += _check_order(order, now=now, reservation_lag=reservation_lag)
    held, bought = quantities_by_sku(held_lines), quantities_by_sku(bought_lines)
    for product in products:
        sku = str(product.get("sku"))
        if wanted is not None and sku not in wanted:
            continue
        if product.get("kind") == "physical":
            violations += _check_product(product, held.get(sku, 0), bought.get(sku, 0))
        if vocabulary is not None:
            violations += _check_ingredients(product, vocabulary)
    return violations


def _check_ingredients(product: Mapping[str, Any], vocabulary: Collection[str]) -> list[Violation]:
    attributes = product.get("attributes")
    ingredients = attributes.get("ingredients") if isinstance(attributes, Mapping) else None
    if not isinstance(ingredients, Mapping):
        return []
    # Reads normalize names as writes do (``Melatonin`` is judged as melatonin): only a
    # name still unknown after that escapes the rules.
    unknown = sorted(
        str(name) for name in ingredients if normalize_ingredient(str(name)) not in vocabulary
    )
    if not unknown:
        return []
    return [
        Violation(
            "unknown_ingredient",
            f"product {product.get('sku')}",
            f"{', '.join(map(repr, unknown))} not in the ruleset's vocabulary "
            "(the rules cannot judge it; PUT it again with the vocabulary's names)",
        )
    ]


def _check_product(product: Mapping[str, Any], held: int, bought: int) -> list[Violation]:
    subject = f"product {product.get('sku')}"
    missing = [name for name in COUNTERS if not isinstance(product.get(name), int)]
    if missing:
        return [
            Violation(
                "counters_missing",
                subject,
                f"no integer {', '.join(missing)} (written before the counters existed? "
                "PUT /admin/products sets them)",
            )
        ]
    stock, reserved, sold, received = (int(product[name]) for name in COUNTERS)
    found = []
    negative = [name for name in COUNTERS if int(product[name]) < 0]
    if negative:
        found.append(
            Violation("negative_counter", subject, f"{', '.join(negative)} below zero (oversold)")
        )
    if stock + reserved + sold != received:
        found.append(
            Violation(
                "stock_unbalanced",
                subject,
                f"for sale {stock} + reserved {reserved} + sold {sold} = "
                f"{stock + reserved + sold}, but {received} received",
            )
        )
    if reserved != held:
        found.append(
            Violation(
                "reserved_mismatch",
                subject,
                f"reserved {reserved}, but open orders hold {held}",
            )
        )
    if sold != bought:
        found.append(
            Violation("sold_mismatch", subject, f"sold {sold}, but paid orders bought {bought}")
        )
    return found


def _check_order(order: Order, *, now: datetime, reservation_lag: timedelta) -> list[Violation]:
    status, state = order.status, order.stock_state
    subject = f"order {order.order_id}"
    found = []
    allowed = STOCK_STATES_BY_STATUS.get(status)
    if allowed is None:
        found.append(Violation("unknown_status", subject, f"status {status!r}"))
    elif state not in allowed:
        found.append(
            Violation(
                "stock_state_mismatch",
                subject,
                f"{status} with its stock {state} (expected {' or '.join(sorted(allowed))})",
            )
        )
    if status in PAYMENT_STATUSES and order.amount_total.amount > 0 and not order.payment_intent_id:
        found.append(
            Violation(
                "payment_missing",
                subject,
                f"{status}, charged {order.amount_total.amount}, with no payment_intent_id",
            )
        )
    if (
        status == "pending_payment"
        and state == "reserved"
        and order.reservation != "awaiting_payment"
    ):
        expires = _parse_time(order.reservation_expires_at)
        if expires is None:
            found.append(
                Violation("reservation_overdue", subject, "holds stock with no expiry time")
            )
        elif now > expires + reservation_lag:
            found.append(
                Violation(
                    "reservation_overdue",
                    subject,
                    f"holds stock {now - expires} after its expiry "
                    f"({order.reservation_expires_at}; allowed {reservation_lag})",
                )
            )
    return found
