"""DynamoDB access through the low-level client (cheaper to load than resources).

The client is created lazily, once per process, from botocore (``aws.py``), which honours
``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL`` for moto or DynamoDB Local.

Items are converted here, not by ``boto3.dynamodb.types``: importing that module imports
all of boto3 (see ``aws.py``). The conversion is boto3's for every type the service
stores (None, bool, int, Decimal, str, lists, maps; numbers in DynamoDB's 38-digit
context, floats refused), and tests/unit/test_dynamo_types.py holds it to boto3's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from bonestore.adapters.aws import aws_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB's numbers: 38 significant digits, exponents -130..125; a value it would round
# is an error, not silently changed (boto3's DYNAMODB_CONTEXT).
NUMBER_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


@cache
def dynamodb_client() -> DynamoDBClient:
    return cast("DynamoDBClient", aws_client("dynamodb"))


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (boto3's TypeSerializer's form)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        number = str(NUMBER_CONTEXT.create_decimal(value))
        if number in ("Infinity", "NaN"):
            raise TypeError("Infinity and NaN not supported")
        return {"N": number}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as Python: numbers as Decimal, binary as bytes, sets as
    sets (written by other tools: the service stores none), else as boto3 reads them."""
    if len(attribute) != 1:
        raise TypeError("an attribute value has exactly one type")
    kind, value = next(iter(attribute.items()))
    if kind in ("S", "BOOL", "B"):
        return value
    if kind == "N":
        return NUMBER_CONTEXT.create_decimal(value)
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [deserialize(v) for v in value]
    if kind == "NULL":
        return None
    if kind == "NS":
        return {NUMBER_CONTEXT.create_decimal(v) for v in value}
    if kind in ("SS", "BS"):
        return set(value)
    raise TypeError(f"Dynamodb type {kind} is not supported")


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
    return {k: serialize(_to_dynamo_value(v)) for k, v in data.items() if v is not None}


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
    return {k: plain(deserialize(v)) for k, v in item.items()}


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
