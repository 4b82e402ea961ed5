"""The support view of an order: can it ship, and why not? Pure; the caller brings the engine.

Eligibility is shown three ways: ``at_checkout`` and ``at_payment`` are the decisions
stored on the order when they were made; ``now`` runs the current rules on the
order's own product snapshots and destination (prices and attributes as sold, not
as the catalog says today). ``now_differs`` compares ``now`` with the latest stored
decision (at payment when there is one, else at checkout) on what decides shipping:
per line eligibility, quantity limits and the rules giving the reasons, and the
shipping methods' ids. ``changed_by`` names the rules that explain the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bonestore.domain.order import Order
    from bonestore.domain.rules import CartDecision, Engine


def _line_outcome(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "eligible": bool(line.get("eligible")),
        "max_quantity": line.get("max_quantity"),
        "rule_ids": sorted({str(r.get("rule_id")) for r in line.get("reasons") or []}),
    }


def _method_ids(decision: Mapping[str, Any]) -> list[str]:
    return sorted(str(m.get("id")) for m in decision.get("shipping_methods") or [])


def _matched_limits(line: Mapping[str, Any]) -> list[str]:
    return sorted(
        str(step["rule_id"])
        for step in line.get("trace") or []
        if step.get("effect") == "limit" and step.get("result") == "match"
    )


def compare_decisions(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``before`` to ``after`` (decision JSON), and which rules changed it.

    Lines are paired by SKU (in order, for repeated SKUs). ``after`` may carry per-line
    ``trace``; it lets a changed quantity limit be attributed to the limit rules now matching.
    """
    differences: list[dict[str, Any]] = []
    changed_by: set[str] = set()
    remaining: dict[str, list[Mapping[str, Any]]] = {}
    for line in before.get("items") or []:
        remaining.setdefault(str(line.get("sku")), []).append(line)
    for line in after.get("items") or []:
        sku = str(line.get("sku"))
        queue = remaining.get(sku) or []
        old_line = queue.pop(0) if queue else None
        new = _line_outcome(line)
        old = _line_outcome(old_line) if old_line is not None else None
        if old == new:
            continue
        rules = set(new["rule_ids"]) ^ set(old["rule_ids"] if old else [])
        if old is None or old["max_quantity"] != new["max_quantity"]:
            rules |= set(_matched_limits(line))
        changed_by |= rules
        differences.append({"sku": sku, "before": old, "after": new, "rules": sorted(rules)})
    for sku, queue in remaining.items():
        for old_line in queue:
            differences.append(
                {"sku": sku, "before": _line_outcome(old_line), "after": None, "rules": []}
            )
    old_methods, new_methods = _method_ids(before), _method_ids(after)
    if old_methods != new_methods:
        differences.append(
            {"sku": None, "shipping_methods": {"before": old_methods, "after": new_methods}}
        )
    eligible_changed = bool(before.get("eligible")) != bool(after.get("eligible"))
    return {
        "differs": bool(differences) or eligible_changed,
        "changed_by": sorted(changed_by),
        "differences": differences,
    }


def _describe(decision: Mapping[str, Any] | None) -> str:
    if decision is None:
        return "not decided"
    if decision.get("eligible"):
        return "eligible"
    rules = sorted(
        {
            str(r.get("rule_id"))
            for line in decision.get("items") or []
            for r in line.get("reasons") or []
        }
    )
    return f"not eligible ({', '.join(rules)})" if rules else "not eligible"


def eligibility_view(order: Order, engine: Engine, at: datetime | None = None) -> dict[str, Any]:
    """``{"at_checkout", "at_payment", "now", "now_differs", "changed_by", ...}`` for an order,
    every reason in its decisions with its rule's ``note`` and ``source`` (the contract: every
    Reason shown to staff carries them). Added after the comparison, which is of decisions
    as they were stored."""
    view = _compared_decisions(order, engine, at)
    rules = _rules_by_id(engine)
    for name in ("at_checkout", "at_payment", "now"):
        if view.get(name):
            view[name] = _noted_decision(view[name], rules)
    return view


def _compared_decisions(order: Order, engine: Engine, at: datetime | None) -> dict[str, Any]:
    at_checkout = dict(order.eligibility_at_checkout or {}) or None
    at_payment = dict(order.eligibility_at_payment or {}) or None
    view: dict[str, Any] = {
        "at_checkout": at_checkout,
        "at_payment": at_payment,
        "now": None,
        "now_differs": False,
        "changed_by": [],
        "compared_with": None,
        "differences": [],
        "ruleset_version_now": engine.version,
    }
    try:
        lines = order.cart_lines()
        destination = (
            order.shipping_address.destination()
            if order.shipping_address is not None
            else order.decided_destination()
        )
    except (KeyError, TypeError, ValueError) as exc:
        view["now_error"] = f"The order's products or destination cannot be read: {exc}"
        view["summary"] = view["now_error"]
        return view
    if not lines:
        view["now_error"] = "The order has no lines."
        view["summary"] = view["now_error"]
        return view
    if destination is None:
        view["now_error"] = "The order has no destination to decide for."
        view["summary"] = view["now_error"]
        return view
    decision: CartDecision = engine.decide(lines, destination, at or datetime.now(UTC), trace=True)
    now = decision.to_json(include_trace=True)
    if at_payment is not None and (order.shipping_address or order.billing_country):
        # Paid for: "now" is the payment check itself, run today on the address and
        # billing country paid with, so it compares with ``at_payment`` like for like.
        from bonestore.service.resolutions import screen_now

        screening = screen_now(order, engine, at)
        now.update(
            eligible=screening.eligible,
            billing=screening.eligibility.get("billing"),
            reasons=with_rule_notes(screening.reasons, engine),
        )
    view["now"] = now
    latest_name = "at_payment" if at_payment is not None else "at_checkout"
    latest = at_payment if at_payment is not None else at_checkout
    if latest is not None:
        comparison = compare_decisions(latest, now)
        view.update(
            now_differs=comparison["differs"],
            changed_by=comparison["changed_by"],
            compared_with=latest_name,
            differences=comparison["differences"],
        )
    view["ruleset_changed"] = bool(
        latest and latest.get("ruleset_version") and latest["ruleset_version"] != engine.version
    )
    parts = [f"at checkout: {_describe(at_checkout)}"]
    if at_payment is not None:
        parts.append(f"at payment: {_describe(at_payment)}")
    parts.append(f"now: {_describe(now)}")
    text = "; ".join(parts)
    then_version = latest.get("ruleset_version") if latest else None
    view["ruleset_version_then"] = then_version
    if view["now_differs"]:
        if view["changed_by"]:
            text += f" - differs because of {', '.join(view['changed_by'])}"
            if view["ruleset_changed"]:
                text += f" (ruleset {then_version} then, {engine.version} now)"
        elif view["ruleset_changed"]:
            text += (
                f" - differs; the ruleset changed ({then_version} then, {engine.version} now)"
                " but no single rule explains it"
            )
        else:
            text += " - differs though no rule changed: the inputs it was decided on differ"
    view["summary"] = text
    return view


def with_rule_notes(reasons: Iterable[Mapping[str, Any]], engine: Engine) -> list[dict[str, Any]]:
    """Reasons as staff see them: each with its rule's ``note`` and ``source`` (the legal
    citation) from the active ruleset, looked up by rule id (None for a rule it no longer
    has, or a check that is not a rule such as ``payment-check``)."""
    return _noted_reasons(reasons, _rules_by_id(engine))


def _rules_by_id(engine: Engine) -> dict[str, Any]:
    return {rule.id: rule for rule in engine.ruleset.rules}


def _noted_reasons(reasons: Iterable[Any], rules: Mapping[str, Any]) -> list[Any]:
    out = []
    for reason in reasons:
        if not isinstance(reason, Mapping):
            out.append(reason)
            continue
        rule = rules.get(str(reason.get("rule_id")))
        out.append(
            {
                **reason,
                "note": rule.note if rule else reason.get("note"),
                "source": rule.source if rule else reason.get("source"),
            }
        )
    return out


def decision_with_rule_notes(decision: Mapping[str, Any], engine: Engine) -> dict[str, Any]:
    """A decision's JSON as staff see it: every ``reasons`` list in it (each line's, each
    shipping method's, offered or withdrawn, the billing check's and its decision's) with
    its rules' note and source."""
    return _noted_decision(decision, _rules_by_id(engine))


def _noted_decision(decision: Mapping[str, Any], rules: Mapping[str, Any]) -> dict[str, Any]:
    def noted(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: _noted_reasons(inner, rules)
                if key == "reasons" and isinstance(inner, list)
                else noted(inner)
                for key, inner in value.items()
            }
        if isinstance(value, list):
            return [noted(inner) for inner in value]
        return value

    shown = dict(noted(decision))
    for item in shown.get("items") or ():
        # A line's null max_quantity is not stored (DynamoDB items drop None), yet every
        # line of a Decision has one, as POST /eligibility answers it.
        if isinstance(item, dict):
            item.setdefault("max_quantity", None)
    return shown


def order_view(order: Order, engine: Engine, at: datetime | None = None) -> dict[str, Any]:
    """The contract's ``GET /support/orders/{order_id}`` body, plus extras for support.

    ``destination`` is where the parcel goes: the shipping address paid for once there
    is one (else what was picked at checkout); ``hold`` says why a held order is held,
    each reason with its rule's customer message, note and source."""
    if order.shipping_address is not None:
        destination: dict[str, Any] | None = order.shipping_address.destination().as_json()
    else:
        destination = order.destination.as_json() if order.destination else None
    return {
        "order_id": order.order_id,
        "status": order.status,
        "email": order.email,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "items": [
            {
                **line.as_json(),
                "name": line.product.get("name"),
                "kind": line.product.get("kind"),
                "category": line.product.get("category"),
            }
            for line in order.lines
        ],
        "currency": order.currency,
        "amount_subtotal": order.amount_subtotal.as_json(),
        "shipping": order.shipping_method.as_json() if order.shipping_method else None,
        "amount_total": order.amount_total.as_json(),
        "destination": destination,
        "destination_at_checkout": order.destination.as_json() if order.destination else None,
        "shipping_address": order.shipping_address.as_json() if order.shipping_address else None,
        "billing_country": order.billing_country,
        "hold": {"reasons": with_rule_notes(order.hold_reasons, engine)}
        if order.status == "held"
        else None,
        "shipments": [
            {"carrier": s.carrier, "tracking_number": s.tracking_number, "at": s.at}
            for s in order.shipments
        ],
        "stripe_session_id": order.stripe_session_id,
        "payment_intent_id": order.payment_intent_id,
        "ruleset_version": order.ruleset_version,
        "eligibility": eligibility_view(order, engine, at),
        "events": [event.as_json() for event in order.events],
    }


def explain(decision: CartDecision, engine: Engine) -> dict[str, Any]:
    """The ``POST /eligibility`` answer plus ``trace``: per line, every rule considered; each
    reason with its rule's note and source from ``engine``, the ruleset that decided it."""
    body = decision_with_rule_notes(decision.to_json(), engine)
    body["trace"] = [
        {
            "sku": line.sku,
            "quantity": line.quantity,
            "eligible": line.eligible,
            "rules": list(line.trace or []),
        }
        for line in decision.items
    ]
    return body
