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


class OncePerKey:
    """Runs ``create`` once per client key (``bonestore.service.ports.OncePerKey``): a
    repeat with the same key and payload gets the first answer. Powertools' errors leave
    as the domain's ``IdempotencyKeyReused`` and ``RequestInProgress``."""

    def __init__(self, expires_after_seconds: int) -> None:
        self.expires_after_seconds = expires_after_seconds
        self.lambda_context: Any = None  # set per invocation so in-progress records expire

    def __call__(
        self, key: str, payload: dict[str, Any], create: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        from bonestore.domain.errors import IdempotencyKeyReused, RequestInProgress

        def attempt(**_: Any) -> dict[str, Any]:
            return create()

        once, config = idempotent(
            attempt,
            data_keyword_argument="attempt",
            event_key_jmespath="key",
            payload_validation_jmespath="request",
            expires_after_seconds=self.expires_after_seconds,
        )
        if self.lambda_context is not None:
            config.register_lambda_context(self.lambda_context)
        try:
            return once(attempt={"key": key, "request": payload})
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request."
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise RequestInProgress(
                "A request with this Idempotency-Key is still in progress; retry shortly."
            ) from None
