"""Lambda's SQS event source, locally: a poller that feeds a queue's messages to a function.

Built from the template's own ``AWS::Lambda::EventSourceMapping`` resources (and SAM
``Type: SQS`` events), on the queues :func:`bonestore_infra.local_aws.create_queues`
made. Each poller does what the Lambda service does for a standard queue
(docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and services-sqs-errorhandling.html):

- it long-polls the queue for up to ``BatchSize`` messages and invokes the function
  once with them, in the SQS event's shape (``Records`` with ``messageId``,
  ``receiptHandle``, ``body``, ``attributes``, ``messageAttributes``, ``md5OfBody``,
  ``eventSource: aws:sqs``, ``eventSourceARN``, ``awsRegion``);
- when the invocation succeeds it deletes the batch's messages; with
  ``FunctionResponseTypes: [ReportBatchItemFailures]`` it keeps those the response
  lists in ``batchItemFailures``. An empty or null list (or response) is a full
  success; an ``itemIdentifier`` that is empty, null or not in the batch makes the
  whole batch a failure, as does an error raised by the function;
- a message it keeps becomes visible again after the queue's visibility timeout, and
  SQS (moto) moves it to the dead-letter queue once it has been received
  ``maxReceiveCount`` times (the queue's redrive policy).

One poller per mapping, one batch at a time (Lambda scales pollers out; one is plenty
locally). ``pause()``/``resume()`` are the mapping's ``Enabled`` flag (``aws lambda
update-event-source-mapping --no-enabled``): messages wait in the queue meanwhile.
``stop()`` ends the thread within one long poll (``WAIT_SECONDS``).
"""

from __future__ import annotations

import base64
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bonestore_infra.local_aws import LOCAL_REGION, IntrinsicResolver, LocalAws

log = logging.getLogger("bonestore_infra.event_source")
# Lambda long-polls for 20 s; locally 1 s, so a stopping stack waits at most that long.
WAIT_SECONDS = 1


@dataclass(frozen=True)
class SqsMapping:
    """One SQS event source mapping of the template, resolved to the local queue."""

    logical_id: str
    function_id: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    enabled: bool = True


def _function_of(value: Any) -> str | None:
    """``!Ref FulfilmentFunction.Alias`` (or the function itself) -> its logical id."""
    if isinstance(value, dict) and isinstance(value.get("Ref"), str):
        return str(value["Ref"]).split(".")[0]
    return value.split(".")[0] if isinstance(value, str) else None


def sqs_mappings(resolver: IntrinsicResolver) -> list[SqsMapping]:
    """The template's SQS event sources whose queue exists locally."""
    template = resolver.template
    queue_of_arn = {
        value: key.removesuffix(".Arn")
        for key, value in resolver.physical.items()
        if key.endswith(".Arn") and key.removesuffix(".Arn") in resolver.physical
    }
    found: list[tuple[str, str, dict[str, Any]]] = []
    for logical_id, resource in template.resources_of_type(
        "AWS::Lambda::EventSourceMapping"
    ).items():
        props = resource.get("Properties", {})
        function_id = _function_of(props.get("FunctionName"))
        if function_id is not None:
            found.append((logical_id, function_id, props))
    for function_id, resource in template.resources_of_type("AWS::Serverless::Function").items():
        for event_id, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == "SQS":
                props = dict(event.get("Properties", {}))
                props["EventSourceArn"] = props.get("Queue")
                found.append((f"{function_id}{event_id}", function_id, props))
    mappings = []
    for logical_id, function_id, props in found:
        arn = str(resolver.resolve(props.get("EventSourceArn")))
        queue = queue_of_arn.get(arn)
        if queue is None:
            log.warning("event source %s: no local queue for %s", logical_id, arn)
            continue
        mappings.append(
            SqsMapping(
                logical_id=logical_id,
                function_id=function_id,
                queue_url=resolver.physical[queue],
                queue_arn=arn,
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes") or []),
                enabled=str(props.get("Enabled", True)).lower() != "false",
            )
        )
    return mappings


def _message_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    """SQS API ``MessageAttributes`` -> the Lambda event's ``messageAttributes``."""
    converted = {}
    for name, value in raw.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [
                base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])
            ],
            "dataType": value.get("DataType"),
        }
        converted[name] = {k: v for k, v in converted[name].items() if v is not None}
    return converted


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda hands a function for a batch of ``ReceiveMessage`` messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": LOCAL_REGION,
            }
            for m in messages
        ]
    }


def failed_message_ids(
    result: Any, batch: list[str], *, report_batch_item_failures: bool
) -> set[str]:
    """The messages of ``batch`` that go back to the queue after a successful invocation."""
    if not report_batch_item_failures or not result:
        return set()
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(batch)
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if any(not isinstance(i, str) or i not in batch for i in ids):
        return set(batch)  # an empty, null or unknown identifier fails the whole batch
    return {str(i) for i in ids}


class SqsEventSource:
    """A poller for one mapping; ``invoke(event)`` runs the function (a warm instance)."""

    def __init__(
        self, mapping: SqsMapping, aws: LocalAws, invoke: Callable[[dict[str, Any]], Any]
    ) -> None:
        self.mapping = mapping
        self._sqs = aws.client("sqs")
        self._invoke = invoke
        self._enabled = threading.Event()
        if mapping.enabled:
            self._enabled.set()
        self._stopping = threading.Event()
        self._cycle = threading.Lock()  # held while a batch is received and processed
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-{self.mapping.logical_id}", daemon=True
        )
        self._thread.start()

    def pause(self) -> None:
        """Stop taking messages; returns once the batch in progress (if any) is done."""
        self._enabled.clear()
        with self._cycle:
            pass

    def resume(self) -> None:
        self._enabled.set()

    def stop(self, *, wait: bool = True) -> None:
        """Take no more messages; with ``wait``, return once the thread has ended (at most
        one long poll and the batch in progress). ``wait=False`` then ``stop()`` lets a
        caller stop other things meanwhile."""
        self._stopping.set()
        self._enabled.set()  # wake a paused poller so it can see it is stopping
        if wait and self._thread is not None:
            self._thread.join(timeout=WAIT_SECONDS + 10)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._enabled.wait(timeout=0.5):
                continue
            with self._cycle:
                if self._stopping.is_set() or not self._enabled.is_set():
                    continue
                try:
                    self.poll_once()
                except Exception:
                    if self._stopping.is_set():
                        return  # the embedded AWS is going away with the stack
                    log.exception("%s: polling failed", self.mapping.logical_id)
                    self._stopping.wait(1)

    def poll_once(self) -> int:
        """One receive, invoke and delete; the number of messages received."""
        mapping = self.mapping
        received = self._sqs.receive_message(
            QueueUrl=mapping.queue_url,
            MaxNumberOfMessages=mapping.batch_size,
            WaitTimeSeconds=WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = received.get("Messages", [])
        if not messages:
            return 0
        batch = [m["MessageId"] for m in messages]
        try:
            result = self._invoke(sqs_event(messages, mapping.queue_arn))
        except Exception:
            # Lambda logs the error; the whole batch becomes visible again after the
            # visibility timeout.
            log.error(
                "%s: %s failed on %d message(s):\n%s",
                mapping.logical_id,
                mapping.function_id,
                len(messages),
                traceback.format_exc(),
            )
            return len(messages)
        kept = failed_message_ids(
            result, batch, report_batch_item_failures=mapping.report_batch_item_failures
        )
        done = [
            {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]}
            for index, m in enumerate(messages)
            if m["MessageId"] not in kept
        ]
        if done:
            answer = self._sqs.delete_message_batch(QueueUrl=mapping.queue_url, Entries=done)
            for failure in answer.get("Failed", []):
                log.warning("%s: delete failed: %s", mapping.logical_id, failure)
        if kept:
            log.info(
                "%s: %d of %d message(s) reported failed; back to the queue",
                mapping.logical_id,
                len(kept),
                len(messages),
            )
        return len(messages)
