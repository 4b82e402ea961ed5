"""The local SQS event source's decisions, as Lambda makes them: which messages go back to
the queue after an invocation, the event's shape, and the mappings read from the template."""

from __future__ import annotations

from typing import Any

import pytest

from bonestore_infra.local_aws import IntrinsicResolver
from bonestore_infra.local_event_source import failed_message_ids, sqs_event, sqs_mappings
from bonestore_infra.template import Template

pytestmark = pytest.mark.unit

BATCH = ["m-1", "m-2", "m-3"]


@pytest.mark.parametrize(
    ("result", "kept"),
    [
        ({"batchItemFailures": []}, set()),  # every message succeeded
        ({"batchItemFailures": None}, set()),
        (None, set()),  # an empty response
        ({}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m-2"}]}, {"m-2"}),
        (
            {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]},
            {"m-1", "m-3"},
        ),
        # An empty, null or unknown identifier fails the whole batch.
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(BATCH)),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, set(BATCH)),
        ({"batchItemFailures": [{"itemIdentifier": "m-9"}]}, set(BATCH)),
        ({"batchItemFailures": [{"id": "m-1"}]}, set(BATCH)),
        ({"batchItemFailures": "m-1"}, set(BATCH)),
    ],
)
def test_reported_failures_go_back_to_the_queue(result: Any, kept: set[str]) -> None:
    assert failed_message_ids(result, BATCH, report_batch_item_failures=True) == kept


def test_without_report_batch_item_failures_a_success_deletes_the_whole_batch() -> None:
    result = {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert failed_message_ids(result, BATCH, report_batch_item_failures=False) == set()


def test_the_event_has_the_shape_lambda_gives_a_function() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": '{"detail": {"order_id": "ord_1"}}',
        "MD5OfBody": "abc",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MessageAttributes": {
            "kind": {"StringValue": "x", "DataType": "String"},
            "raw": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    (record,) = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:Q")["Records"]
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh",
        "body": '{"detail": {"order_id": "ord_1"}}',
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "messageAttributes": {
            "kind": {
                "stringValue": "x",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "raw": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "abc",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:Q",
        "awsRegion": "us-east-1",
    }
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent

    parsed = next(iter(SQSEvent({"Records": [record]}).records))
    assert (parsed.message_id, parsed.attributes.approximate_receive_count) == ("m-1", "2")


def test_the_fulfilment_mapping_is_read_from_the_template() -> None:
    resolver = IntrinsicResolver(Template())
    assert sqs_mappings(resolver) == []  # no queue made yet: nothing to poll
    resolver.physical.update(
        {
            "FulfilmentQueue": "http://local/123456789012/FulfilmentQueue",
            "FulfilmentQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:FulfilmentQueue",
        }
    )
    (mapping,) = sqs_mappings(resolver)
    assert mapping.logical_id == "FulfilmentOrderPaidMapping"
    assert mapping.function_id == "FulfilmentFunction"
    assert mapping.queue_url == "http://local/123456789012/FulfilmentQueue"
    assert (mapping.batch_size, mapping.report_batch_item_failures, mapping.enabled) == (
        10,
        True,
        True,
    )


def test_the_local_ruleset_file_is_read_again_when_it_changes(tmp_path: Any) -> None:
    from bonestore.domain.rules.loader import RulesetError, read_ruleset_text
    from bonestore_infra.local_stack import RulesetFile

    path = tmp_path / "ruleset.yaml"
    packaged = read_ruleset_text()[0]
    path.write_text(packaged, "utf-8")
    ruleset = RulesetFile(path)
    first = ruleset.engine()
    assert ruleset.engine() is first  # unchanged: the same engine
    path.write_text(packaged.replace("\nrules:\n", "\nrules:\n  - id: x\n", 1), "utf-8")
    with pytest.raises(RulesetError):  # a broken file decides nothing (fail closed)
        ruleset.engine()
    path.write_text(packaged + "\n# a comment\n", "utf-8")
    assert ruleset.engine() is not first
