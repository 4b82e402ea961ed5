"""DynamoDB access through the low-level client (cheaper to load than resources).

The client is created lazily, once per process; boto3 itself honours
``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL`` for moto or DynamoDB Local.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@cache
def dynamodb_client() -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb")


def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, float):  # pragma: no cover - money and amounts are never floats
        raise TypeError("floats are not stored; use int or Decimal")
    if isinstance(value, dict):
        return {k: _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    return value


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict to a DynamoDB item (None values dropped)."""
    return {k: _serializer.serialize(_to_dynamo_value(v)) for k, v in data.items() if v is not None}


def plain(value: Any, *, fractions_as_float: bool = False) -> Any:
    """DynamoDB's numbers back to Python, recursively: integral Decimals as int, others
    kept Decimal (or, with ``fractions_as_float``, float: plain JSON). The one Decimal
    unwrapper: every stored item goes through it."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value) if fractions_as_float else value
    if isinstance(value, Mapping):
        return {str(k): plain(v, fractions_as_float=fractions_as_float) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, fractions_as_float=fractions_as_float) for v in value]
    return value


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item to plain Python (integral numbers as int, others Decimal)."""
    return {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}


def scan_all(client: DynamoDBClient, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {"TableName": table, **kwargs}
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            yield from_item(item)
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return
        request["ExclusiveStartKey"] = start_key
