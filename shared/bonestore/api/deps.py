"""Adapter providers for route handlers, injected with Powertools ``Depends()``.

Each returns an adapter over a lazily created, process-wide client; tests swap
them with ``app.dependency_overrides[provider] = lambda: fake``.
"""

from __future__ import annotations

from functools import cache

from bonestore.adapters.dynamo import dynamodb_client
from bonestore.adapters.email import SesEmailSender
from bonestore.adapters.orders import OrderRepository
from bonestore.adapters.products import ProductRepository
from bonestore.config import get_settings


def product_repository() -> ProductRepository:
    return ProductRepository(dynamodb_client(), get_settings().products_table)


def order_repository() -> OrderRepository:
    settings = get_settings()
    return OrderRepository(dynamodb_client(), settings.orders_table, settings.products_table)


@cache
def email_sender() -> SesEmailSender:
    """Customer emails from the template's verified sender; the SES client is made on first send."""
    return SesEmailSender(get_settings().email_sender)
