"""The adapters' DynamoDB conversion (``bonestore.adapters.dynamo``) is boto3's.

It replaced ``boto3.dynamodb.types`` so that no Lambda function imports boto3 (see
``bonestore/adapters/aws.py``); these tests hold it to boto3's for every type the service
stores, and to the same refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from bonestore.adapters.dynamo import (
    _to_dynamo_value,
    deserialize,
    from_item,
    plain,
    serialize,
    to_item,
)

numbers = st.one_of(
    st.integers(min_value=-(10**37), max_value=10**37),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, max_value=10**20, min_value=-(10**20)
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)


@given(values)
def test_serialize_is_boto3s(value: Any) -> None:
    assert serialize(value) == TypeSerializer().serialize(value)


@given(values)
def test_deserialize_is_boto3s(value: Any) -> None:
    attribute = TypeSerializer().serialize(value)
    ours, theirs = deserialize(attribute), TypeDeserializer().deserialize(attribute)
    assert ours == theirs
    assert repr(ours) == repr(theirs)  # Decimal("1.0") stays itself, not 1


@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=5))
def test_items_convert_as_they_did_through_boto3(data: dict[str, Any]) -> None:
    item = to_item(data)
    assert item == {
        k: TypeSerializer().serialize(_to_dynamo_value(v)) for k, v in data.items() if v is not None
    }
    assert from_item(item) == {k: plain(TypeDeserializer().deserialize(v)) for k, v in item.items()}


@pytest.mark.parametrize(
    "value",
    [
        1.5,  # floats are never money
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1." + "1" * 40),  # more digits than DynamoDB keeps: not silently rounded
        Decimal("1e200"),
        {"a": [1, 2.0]},
        object(),
    ],
    ids=["float", "nan", "infinity", "inexact", "overflow", "nested-float", "object"],
)
def test_what_boto3_refuses_is_refused(value: Any) -> None:
    with pytest.raises(Exception) as theirs:
        TypeSerializer().serialize(value)
    with pytest.raises(type(theirs.value)) as ours:
        serialize(value)
    assert str(ours.value) == str(theirs.value) or isinstance(ours.value, ArithmeticError)


def test_sets_and_binary_written_by_other_tools_are_read() -> None:
    assert deserialize({"SS": ["a", "b"]}) == {"a", "b"}
    assert deserialize({"NS": ["1", "2.5"]}) == {Decimal(1), Decimal("2.5")}
    assert deserialize({"B": b"\x00\x01"}) == b"\x00\x01"
    assert deserialize({"BS": [b"x"]}) == {b"x"}


@pytest.mark.parametrize("attribute", [{}, {"S": "a", "N": "1"}, {"X": 1}])
def test_malformed_attribute_values_are_refused(attribute: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        deserialize(attribute)
