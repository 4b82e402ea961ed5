"""Powertools Idempotency on the idempotency table, built on first use (never at import)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bonestore.adapters.dynamo import dynamodb_client
from bonestore.config import get_settings


def persistence_layer() -> Any:
    """A new layer per idempotent function: Powertools configures a layer once, with the
    first function's key path, so two functions sharing one would hash the wrong field."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=dynamodb_client()
    )


def idempotent(
    func: Callable[..., dict[str, Any]],
    *,
    data_keyword_argument: str,
    event_key_jmespath: str,
    expires_after_seconds: int,
    payload_validation_jmespath: str = "",
) -> tuple[Callable[..., dict[str, Any]], Any]:
    """``func`` made idempotent on the key found in its data argument, and its config
    (register the Lambda context on it so in-progress records expire with the call)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath=event_key_jmespath,
        payload_validation_jmespath=payload_validation_jmespath,
        expires_after_seconds=expires_after_seconds,
        raise_on_no_idempotency_key=True,
    )
    wrapped = idempotent_function(
        data_keyword_argument=data_keyword_argument,
        persistence_store=persistence_layer(),
        config=config,
    )(func)
    return wrapped, config
