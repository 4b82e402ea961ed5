"""The embedded AWS for local runs and tests: moto's server in-process, over real HTTP.

Tables are created from template.yaml's own definitions, so the local key
schemas and indexes are the deployed ones.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

from bonestore_infra.template import Template

log = logging.getLogger("bonestore_infra.local_aws")

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
LOCAL_STACK = "bonestore-local"
# Fake credentials: moto accepts anything, and they keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
_TABLE_CREATE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"bonestore: port {port} on {host} ({what}) is already in use: {exc.strerror}. "
                "Stop the other process or choose another port."
            ) from None


class IntrinsicResolver:
    """Resolves !Ref / !Sub / !GetAtt to local names, like CloudFormation would in AWS."""

    def __init__(self, template: Template, parameters: dict[str, str] | None = None) -> None:
        self.template = template
        # What the embedded AWS named a resource it created (a queue's URL is its Ref and
        # its ARN its GetAtt, as in CloudFormation): {"FulfilmentQueue": url,
        # "FulfilmentQueue.Arn": arn}. Other resources keep their logical id as name.
        self.physical: dict[str, str] = {}
        self.parameters = {
            name: str(spec.get("Default", ""))
            for name, spec in template.doc.get("Parameters", {}).items()
        }
        self.parameters.update(parameters or {})
        self.pseudo = {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT,
            "AWS::StackName": LOCAL_STACK,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        return name  # a resource: its local physical name is its logical id

    def condition(self, name: str) -> bool:
        """Evaluate one of the template's Conditions with the local parameter values."""
        return self._evaluate(self.template.doc.get("Conditions", {})[name])

    def _evaluate(self, expr: Any) -> bool:
        ((key, arg),) = expr.items()
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(v) for v in arg)
        if key == "Fn::Or":
            return any(self._evaluate(v) for v in arg)
        if key == "Condition":
            return self.condition(arg)
        raise ValueError(f"unsupported condition function {key}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def substitute(name: str) -> str:
                    if name in extra:
                        return str(self.resolve(extra[name]))
                    if "." in name:
                        return f"{self.ref(name.split('.')[0])}-{name.split('.')[1]}"
                    return self.ref(name)

                import re

                return re.sub(r"\$\{([^}!]+)\}", lambda m: substitute(m.group(1)), text)
            if key == "Fn::GetAtt":
                created = self.physical.get(f"{arg[0]}.{arg[1]}")
                if created is not None:
                    return created
                return f"arn:aws:local:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{arg[0]}/{arg[1]}"
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
            if key == "Fn::If":
                condition, if_true, if_false = arg
                return self.resolve(if_true if self.condition(condition) else if_false)
            if key == "Fn::FindInMap":
                mapping, top, second = (str(self.resolve(v)) for v in arg[:3])
                return self.template.doc.get("Mappings", {})[mapping][top][second]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


@dataclass
class LocalAws:
    """A running moto server and the environment that points boto3 at it."""

    endpoint_url: str
    _server: Any

    @property
    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": LOCAL_REGION,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            **LOCAL_CREDENTIALS,
        }

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's dummy credentials
        )

    def stop(self) -> None:
        self._server.stop()


# DynamoDB runs every request, a transaction included, atomically. moto's server does
# not under concurrent requests (two threads can pass one condition check), so the
# embedded server serializes its DynamoDB backend calls: the local run then gives
# the guarantee the code relies on in AWS, and a test of "the last unit sells once"
# tests our code, not moto's races.
_ATOMIC_DYNAMODB_CALLS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_write_items",
    "transact_get_items",
)
_dynamodb_lock = threading.RLock()


def _make_moto_dynamodb_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in _ATOMIC_DYNAMODB_CALLS:
        method = getattr(DynamoDBBackend, name, None)
        if method is None or getattr(method, "_bonestore_atomic", False):
            continue

        def serialized(*args: Any, __method: Any = method, **kwargs: Any) -> Any:
            with _dynamodb_lock:
                return __method(*args, **kwargs)

        serialized._bonestore_atomic = True  # type: ignore[attr-defined]
        functools.update_wrapper(serialized, method)
        setattr(DynamoDBBackend, name, serialized)


def start_local_aws(host: str = "127.0.0.1", port: int = 0) -> LocalAws:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    port = port or free_port(host)
    ensure_port_free(host, port, "embedded DynamoDB")
    _make_moto_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return LocalAws(endpoint_url=f"http://{host}:{port}", _server=server)


def create_tables(aws: LocalAws, template: Template) -> list[str]:
    """Create every AWS::DynamoDB::Table of the template (idempotent). Returns the names."""
    dynamodb = aws.client("dynamodb")
    existing = set(dynamodb.list_tables().get("TableNames", []))
    names = []
    for logical_id, props in template.tables().items():
        name = props.get("TableName", logical_id)
        names.append(name)
        if name in existing:
            continue
        kwargs = {k: props[k] for k in _TABLE_CREATE_KEYS if k in props}
        dynamodb.create_table(TableName=name, **kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    return names


def create_other_resources(
    aws: LocalAws, resolver: IntrinsicResolver, stripe_secret: dict[str, str]
) -> None:
    """The event bus, the Stripe secret the functions read (bonestore.adapters.secrets), and
    the SES sender identities (verified at once: moto, like SES, refuses an unverified From)."""
    ses = aws.client("sesv2")
    for props in resolver.template.resources_of_type("AWS::SES::EmailIdentity").values():
        identity = str(resolver.resolve(props.get("Properties", {}).get("EmailIdentity")))
        with contextlib.suppress(ses.exceptions.AlreadyExistsException):
            ses.create_email_identity(EmailIdentity=identity)
    events = aws.client("events")
    for logical_id in resolver.template.resources_of_type("AWS::Events::EventBus"):
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name=logical_id)
    secrets = aws.client("secretsmanager")
    name = resolver.parameters.get("StripeSecretName", "bonestore/stripe")
    value = json.dumps(stripe_secret)
    try:
        secrets.create_secret(Name=name, SecretString=value)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=value)


def seed_catalog(aws: LocalAws, table: str) -> int:
    from bonestore.adapters.products import ProductRepository
    from bonestore.domain.catalog import seed_catalog as seed_products

    return ProductRepository(aws.client("dynamodb"), table).seed(seed_products())


def apply_environment(values: dict[str, str]) -> None:
    os.environ.update(values)


def sent_emails() -> list[dict[str, Any]]:
    """Messages the functions sent through the embedded SES, oldest first.

    Read from moto's SES backend in this process (the server runs in-process): moto
    documents ``ses_backends[account][region].sent_messages`` as the way to check what
    was sent, and its SES v2 ``SendEmail`` stores there too. With Simple content moto
    keeps the HTML body when there is one (the text body otherwise).
    """
    from moto.ses.models import ses_backends

    backend = ses_backends[LOCAL_ACCOUNT][LOCAL_REGION]
    messages = []
    for message in list(backend.sent_messages):
        destinations = getattr(message, "destinations", {}) or {}
        messages.append(
            {
                "id": message.id,
                "from": message.source,
                "to": list(destinations.get("ToAddresses", [])),
                "subject": getattr(message, "subject", None),
                "body": getattr(message, "body", None),
            }
        )
    return messages


# CloudFormation's AWS::SQS::Queue properties that are SQS queue attributes as they are.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _attribute(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def create_queues(
    aws: LocalAws, resolver: IntrinsicResolver, *, visibility_timeout: int | None = None
) -> dict[str, str]:
    """Every AWS::SQS::Queue of the template, with its properties (redrive policy
    included), dead-letter queues first. Records each queue's URL (its Ref) and ARN (its
    GetAtt Arn) in ``resolver.physical``; returns {logical id: URL}.

    ``visibility_timeout`` replaces the template's (tests: a failed message is received
    again after seconds, not minutes); None keeps the template's.
    """
    sqs = aws.client("sqs")
    queues = {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resolver.template.resources_of_type("AWS::SQS::Queue").items()
    }

    def dead_letter_of(props: dict[str, Any]) -> str | None:
        target = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            return str(target["Fn::GetAtt"][0])
        return None

    ordered = [q for q in queues if dead_letter_of(queues[q]) is None]
    ordered += [q for q in queues if q not in ordered]
    urls: dict[str, str] = {}
    for logical_id in ordered:
        props = queues[logical_id]
        attributes = {
            key: _attribute(resolver.resolve(props[key]))
            for key in _QUEUE_ATTRIBUTES
            if key in props
        }
        if visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(resolver.resolve(props["RedrivePolicy"]))
        name = str(resolver.resolve(props.get("QueueName", logical_id)))
        if props.get("FifoQueue") and not name.endswith(".fifo"):
            name += ".fifo"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        resolver.physical[logical_id] = url
        resolver.physical[f"{logical_id}.Arn"] = arn
        resolver.physical[f"{logical_id}.QueueName"] = name
        resolver.physical[f"{logical_id}.QueueUrl"] = url
        urls[logical_id] = url
    return urls


def create_event_rules(aws: LocalAws, resolver: IntrinsicResolver) -> dict[str, list[str]]:
    """Every AWS::Events::Rule of the template with its pattern and its targets on the
    queues :func:`create_queues` made (their retry policy and dead-letter config kept).
    Returns {rule logical id: [target ids]}.

    moto's EventBridge delivers a matching ``PutEvents`` to SQS targets itself
    (``moto/events/models.py`` ``Rule.send_to_targets`` -> ``_send_to_sqs_queue``: the
    event as JSON, as EventBridge sends it), so nothing is bridged here. It does not look
    at a rule's ``State``, so a DISABLED rule is created without targets: it then
    delivers nothing, as in AWS. Targets other than local queues (none today) are left
    out, and said so in the log.
    """
    events = aws.client("events")
    created: dict[str, list[str]] = {}
    local_arns = {v for k, v in resolver.physical.items() if k.endswith(".Arn")}
    for logical_id, resource in resolver.template.resources_of_type("AWS::Events::Rule").items():
        props = resource.get("Properties", {})
        if "EventPattern" not in props:
            continue  # a schedule: the sweeper is not run on a timer locally
        name = str(resolver.resolve(props.get("Name", logical_id)))
        bus = str(resolver.resolve(props.get("EventBusName", "default")))
        state = str(props.get("State", "ENABLED"))
        rule = events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps(resolver.resolve(props["EventPattern"])),
            State=state,
            Description=str(props.get("Description", "")),
        )
        resolver.physical[f"{logical_id}.Arn"] = rule["RuleArn"]
        targets = [resolver.resolve(t) for t in props.get("Targets", [])]
        local = [t for t in targets if t.get("Arn") in local_arns]
        for skipped in (t for t in targets if t not in local):
            log.warning("rule %s: target %s is not served locally", logical_id, skipped.get("Id"))
        if state == "ENABLED" and local:
            events.put_targets(Rule=name, EventBusName=bus, Targets=local)
        created[logical_id] = [str(t["Id"]) for t in local] if state == "ENABLED" else []
    return created
