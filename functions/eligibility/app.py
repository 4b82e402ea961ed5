"""Eligibility function: POST /eligibility (public).

Which lines of a cart may ship to a destination, with limits, shipping methods
and the reasons, decided on the server from the catalog and the ruleset.

The storefront calls it on every change of cart or address, so its cold start is a
product metric (target 1.3x the fair floor, issue #14): like the catalog it runs on
the lean router of ``bonestore.api.lite_http`` with stdlib logging, not Powertools'
resolver and Logger. The body is validated by the same pydantic model, and its
errors answered in the same body, as on Powertools' routes (``/support/eligibility``
takes the same request).
"""

from __future__ import annotations

from bonestore.api.gc_pause import resumed_after_first_call

import logging
from typing import Any

from bonestore.adapters.products import ProductRepository
from bonestore.api.deps import product_repository, rules_engine
from bonestore.api.lite_http import LiteRequest, LiteRouter
from bonestore.api.responses import documented
from bonestore.api.snapstart import register, warm_dynamodb, warm_rules
from bonestore.config import get_settings

logger = logging.getLogger("bonestore.eligibility")
logger.setLevel(logging.INFO)
app = LiteRouter(cors_origin=get_settings().storefront_origin)
# SnapStart (template.yaml): the snapshot holds the ruleset and clients' models loaded.
register(warm_rules, warm_dynamodb)


@app.post(
    "/eligibility",
    summary="Decide what a cart may ship to a destination, and why",
    body_model="bonestore.service.carts:EligibilityRequest",
    responses=documented({200: ("EligibilityOut", "The decision, per line, with reasons")}),
)
def check_eligibility(request: LiteRequest) -> dict[str, Any]:
    from bonestore.service.carts import EligibilityRequest, decide_request

    cart = request.validated(EligibilityRequest)
    products: ProductRepository = product_repository()
    decision = decide_request(cart, products, rules_engine())
    logger.info(
        "eligibility decided",
        extra={
            "country": decision.destination.country,
            "eligible": decision.eligible,
            "lines": len(cart.items),
            "ruleset_version": decision.ruleset_version,
        },
    )
    return decision.to_json()


@resumed_after_first_call
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.handle(event, context, logger)
