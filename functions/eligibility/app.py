"""Eligibility function: POST /eligibility (public).

Which lines of a cart may ship to a destination, with limits, shipping methods
and the reasons, decided on the server from the catalog and the ruleset.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from bonestore.adapters.products import ProductRepository
from bonestore.api.deps import product_repository
from bonestore.api.http import create_app, documented
from bonestore.api.snapstart import register, warm_dynamodb, warm_rules
from bonestore.config import get_settings
from bonestore.service.carts import EligibilityRequest, decide_request

logger = Logger()
app = create_app(enable_validation=True, cors_origin=get_settings().storefront_origin)
# SnapStart (template.yaml): the snapshot holds the ruleset and clients' models loaded.
register(warm_rules, warm_dynamodb)


@app.post(
    "/eligibility",
    summary="Decide what a cart may ship to a destination, and why",
    responses=documented({200: ("EligibilityOut", "The decision, per line, with reasons")}),
)
def check_eligibility(
    request: Annotated[EligibilityRequest, Body()],
    products: Annotated[ProductRepository, Depends(product_repository)],
) -> dict[str, Any]:
    decision = decide_request(request, products)
    logger.info(
        "eligibility decided",
        extra={
            "country": decision.destination.country,
            "eligible": decision.eligible,
            "lines": len(request.items),
            "ruleset_version": decision.ruleset_version,
        },
    )
    return decision.to_json()


@logger.inject_lambda_context(
    clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST
)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
