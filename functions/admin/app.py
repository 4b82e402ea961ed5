"""Admin function: catalog changes and the active ruleset (group ops), and shipments of
paid orders (groups ops, warehouse).

``GET /admin/rules`` is ops' alone, as the contract's Ops section says ("403 for another
group"): support explains a refusal from ``/support/eligibility`` and the support order
view, whose reasons carry each rule's source and note. Groups are checked from the
Cognito claims before the request is parsed (401/403 before any 400).

Ops change the catalog while they work, so its cold start is held to a target too
(1.6x the fair floor, issue #14): like the catalog it runs on the lean router of
``bonestore.api.lite_http`` with stdlib logging, not Powertools' resolver, Logger and
OpenAPI validation (~50 ms CPU of a cold start here). The bodies are validated by the
same pydantic models, their errors answered in the same body.
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationInfo, field_validator

from bonestore.api.auth import SHIPPING_GROUPS, WRITE_GROUPS
from bonestore.api.deps import product_repository, rules_engine, warehouse_shipments
from bonestore.api.lite_http import LiteRequest, LiteResponse, LiteRouter
from bonestore.api.responses import documented
from bonestore.domain.catalog import Product, Sku
from bonestore.domain.errors import InvalidInput, NotFound, Unprocessable
from bonestore.domain.money import SHOP_CURRENCY, Money

logger = logging.getLogger("bonestore.admin")
logger.setLevel(logging.INFO)

POLICY = {
    ("PUT", "/admin/products/{sku}"): WRITE_GROUPS,
    ("DELETE", "/admin/products/{sku}"): WRITE_GROUPS,
    ("GET", "/admin/rules"): WRITE_GROUPS,  # ops only: the contract's Ops routes
    ("POST", "/admin/orders/{order_id}/shipments"): SHIPPING_GROUPS,
}
app = LiteRouter(policy=POLICY)

# The path's SKU in any case (it is upper-cased): documented, and checked by _path_sku.
PATH_SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$"
PATH_SKU = {"sku": ("SKU", PATH_SKU_PATTERN)}


class ProductBody(Product):
    """A product as ops send it: the SKU comes from the path (the body may repeat it)."""

    sku: Sku | None = None  # type: ignore[assignment]

    @field_validator("price")
    @classmethod
    def _iso_4217(cls, price: Money, info: ValidationInfo) -> Money:
        # Money's pattern takes any three letters; a price in "XYZ" would go on sale and
        # fail only at Stripe. The ISO 4217 list is read here, on a write, not per request.
        import pycountry

        if pycountry.currencies.get(alpha_3=price.currency) is None:
            raise ValueError(f"{price.currency!r} is not an ISO 4217 currency code")
        # Shipping is priced in the shop's currency and a checkout charges goods and
        # shipping in one: a book in EUR was quoted USD shipping, then Stripe refused the
        # checkout (a 502). A digital product has no shipping and may sell in any.
        if info.data.get("kind") == "physical" and price.currency != SHOP_CURRENCY:
            raise ValueError(
                f"a physical product sells in {SHOP_CURRENCY}, the currency its shipping "
                f"is priced in, not {price.currency}"
            )
        return price


def _path_sku(sku: str) -> str:
    """The path's SKU, upper-cased; 400 ``invalid_sku`` for anything else (no space
    trimmed: the path names exactly one product)."""
    import re

    # fullmatch: with re.match, "$" would also match before a final newline ("AB%0A").
    # Checked before upper(), which would turn "\ufb00" (the "ff" ligature) into "FF". An
    # ASCII match, upper-cased, matches the catalog's SKU_PATTERN (a test pins the two).
    if not re.fullmatch(PATH_SKU_PATTERN, sku):
        raise InvalidInput(
            f"{sku[:64]!r} is not a SKU (A-Z, 0-9 and dashes, 2 to 64 characters).",
            code="invalid_sku",
            details=[{"field": "sku", "message": "A-Z, 0-9 and dashes, 2 to 64 characters"}],
        )
    return sku.upper()


def _stored_view(item: dict[str, Any]) -> dict[str, Any]:
    """The product as ops see it: ``stock`` means what ops send (on hand, not yet sold:
    for sale plus held by open checkouts), with the counters it is made of."""
    from bonestore.domain.catalog import product_of

    view: dict[str, Any] = product_of(item).model_dump(mode="json")
    if item.get("kind") == "physical":
        available = int(item.get("stock", 0))
        reserved = int(item.get("reserved", 0))
        view.update(
            stock=available + reserved,
            available=available,
            reserved=reserved,
            sold=int(item.get("sold", 0)),
            received=int(item.get("received", 0)),
        )
    else:
        view["reserved"] = 0
    view["updated_at"] = item.get("updated_at")
    return view


def _refuse_unknown_ingredients(product: Product) -> None:
    """Data the rules cannot judge never goes on sale (contract v2: 422 unknown_ingredient)."""
    from bonestore.domain.catalog import unknown_ingredients

    vocabulary = rules_engine().ruleset.ingredients
    unknown = unknown_ingredients(product, vocabulary)
    if unknown:
        raise Unprocessable(
            f"Ingredient{'s' if len(unknown) > 1 else ''} not in the ruleset's vocabulary: "
            f"{', '.join(unknown)}. Use one of: {', '.join(sorted(vocabulary)) or '(none)'}.",
            code="unknown_ingredient",
            details=[{"field": "attributes.ingredients", "ingredient": name} for name in unknown],
        )


@app.put(
    "/admin/products/{sku}",
    summary="Create or replace a product, stock included",
    responses=documented(
        {
            200: ("StoredProductOut", "Replaced"),
            201: ("StoredProductOut", "Created"),
        },
        {
            400: "invalid_sku, sku_mismatch or a field-specific code",
            409: "stock_below_reserved: fewer units than open checkouts hold; "
            "stock_reserved: a product with reservations cannot become digital",
            422: "unknown_ingredient: not in the ruleset's vocabulary",
        },
    ),
    body_model=ProductBody,
    path_docs=PATH_SKU,
)
def put_product(request: LiteRequest) -> LiteResponse:
    """``stock`` is the units on hand not yet sold: those for sale plus those open
    checkouts hold. Reservations made meanwhile are kept (409 ``stock_below_reserved``
    when fewer units than they hold are declared)."""
    path_sku = _path_sku(request.path_params.get("sku", ""))
    product = request.validated(ProductBody)
    if product.sku is not None and product.sku != path_sku:
        raise InvalidInput(
            f"The body's sku {product.sku!r} does not match the path's {path_sku!r}.",
            code="sku_mismatch",
        )
    validated = Product.model_validate({**product.model_dump(), "sku": path_sku})
    _refuse_unknown_ingredients(validated)
    products = product_repository()
    existed = bool(products.put(validated))
    stored = products.get(path_sku, include_inactive=True) or {}
    logger.info("product saved", extra={"sku": path_sku, "new_product": not existed})
    return LiteResponse(200 if existed else 201, _stored_view(stored))


@app.delete(
    "/admin/products/{sku}",
    summary="Deactivate a product (kept for existing orders)",
    responses=documented(
        {200: ("StoredProductOut", "Deactivated")},
        {400: "invalid_sku", 404: "unknown_sku"},
    ),
    path_docs=PATH_SKU,
)
def delete_product(request: LiteRequest) -> dict[str, Any]:
    path_sku = _path_sku(request.path_params.get("sku", ""))
    products = product_repository()
    if not products.deactivate(path_sku):
        raise NotFound(f"No product with SKU {path_sku!r}.", code="unknown_sku")
    logger.info("product deactivated", extra={"sku": path_sku})
    stored = products.get(path_sku, include_inactive=True) or {}
    return _stored_view(stored)


@app.get(
    "/admin/rules",
    summary="The active ruleset, its version and its lint result",
    responses=documented({200: ("RulesetOut", "The active ruleset")}),
)
def get_rules(request: LiteRequest) -> dict[str, Any]:
    from bonestore.domain.catalog import product_of
    from bonestore.service.rules_report import ruleset_report

    catalog = [product_of(item) for item in product_repository().list(include_inactive=True)]
    return ruleset_report(rules_engine(), catalog)


class ShipmentBody(BaseModel):
    """The parcel that left: who carries it and its tracking number."""

    model_config = ConfigDict(extra="forbid")

    carrier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    tracking_number: Annotated[
        str,
        StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{2,63}$"),
    ]


@app.post(
    "/admin/orders/{order_id}/shipments",
    summary="Record the shipment of a paid order (it becomes fulfilled)",
    responses=documented(
        {200: ("SupportOrderOut", "The order, fulfilled, with its shipments")},
        {404: "order_not_found", 409: "invalid_transition"},
    ),
    body_model=ShipmentBody,
)
def record_shipment(request: LiteRequest) -> dict[str, Any]:
    from bonestore.domain.orders import MAX_ORDER_ID_LENGTH, could_be_order_id
    from bonestore.service.support import order_view

    order_id = request.path_params.get("order_id", "")
    shipment = request.validated(ShipmentBody)
    if not could_be_order_id(order_id):
        shown = order_id[:MAX_ORDER_ID_LENGTH]
        raise NotFound(f"No order with id {shown!r}.", code="order_not_found")
    order = warehouse_shipments().ship(
        order_id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        staff=request.staff.username,
    )
    logger.info("shipment recorded", extra={"order_id": order_id, "carrier": shipment.carrier})
    return order_view(order, rules_engine())


@resumed_after_first_call
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context, logger)
