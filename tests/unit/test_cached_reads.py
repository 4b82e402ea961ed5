"""The Stripe secret and the storefront URL: read from AWS on first use, cached per process
for a few minutes, a failed read never cached; and read without boto3 or Powertools
Parameters, whose imports cost checkout and the webhook ~42 ms of cold start (#14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bonestore.adapters import secrets
from bonestore.adapters.cached_reads import AwsReads, MaxAgeCache
from bonestore.adapters.secrets import CACHE_SECONDS, StripeSecrets
from bonestore.domain.errors import UpstreamUnavailable
from tests.helpers import run_in_deployed_layer

pytestmark = pytest.mark.unit

NAME = "bonestore/stripe"
SECRET = {"api_key": "sk_test_cached", "webhook_secret": "whsec_cached"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_read_again_only_once_older_than_its_max_age() -> None:
    clock = Clock()
    cache: MaxAgeCache[int] = MaxAgeCache(300, clock)
    reads: list[int] = []

    def fetch() -> int:
        reads.append(len(reads))
        return len(reads)

    assert [cache.get("a", fetch) for _ in range(3)] == [1, 1, 1]
    clock.now += 299.9
    assert cache.get("a", fetch) == 1
    assert cache.get("b", fetch) == 2  # per name
    clock.now += 0.1
    assert cache.get("a", fetch) == 3 and len(reads) == 3
    cache.clear()
    assert cache.get("b", fetch) == 4


def test_a_failed_read_is_not_cached() -> None:
    cache: MaxAgeCache[str] = MaxAgeCache(300, Clock())

    def down() -> str:
        raise UpstreamUnavailable("down")

    with pytest.raises(UpstreamUnavailable):
        cache.get("a", down)
    assert cache.get("a", lambda: "up") == "up"


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stubber, Clock]]:
    """The module's client over a stub (a read the test did not queue fails it); the
    cache empty, as in a new instance, on a clock the test moves."""
    client = boto3.client("secretsmanager", region_name="us-east-1")
    clock = Clock()
    reads: AwsReads[Any] = AwsReads("secretsmanager", CACHE_SECONDS, client=client)
    reads.values = MaxAgeCache(CACHE_SECONDS, clock)
    monkeypatch.setattr(secrets, "_reads", reads)
    with Stubber(client) as stub:
        yield stub, clock
        stub.assert_no_pending_responses()


def _answers(stub: Stubber, value: dict[str, str]) -> None:
    stub.add_response(
        "get_secret_value",
        {"Name": NAME, "SecretString": json.dumps(value)},
        {"SecretId": NAME},
    )


def test_the_secret_is_read_once_then_again_after_five_minutes(
    secretsmanager: tuple[Stubber, Clock],
) -> None:
    stub, clock = secretsmanager
    _answers(stub, SECRET)
    keys = StripeSecrets(NAME)
    assert keys.keys().api_key == "sk_test_cached"
    assert keys.keys().webhook_secrets == ("whsec_cached",)  # no second read queued
    clock.now += CACHE_SECONDS
    _answers(stub, {**SECRET, "api_key": "sk_test_rotated"})
    assert keys.keys().api_key == "sk_test_rotated"


def test_an_unreadable_secret_is_a_retryable_payment_provider_error(
    secretsmanager: tuple[Stubber, Clock],
) -> None:
    stub, _ = secretsmanager
    stub.add_client_error("get_secret_value", "ResourceNotFoundException", http_status_code=400)
    with pytest.raises(UpstreamUnavailable) as raised:
        StripeSecrets(NAME).keys()
    assert raised.value.code == "payment_provider_unavailable"
    _answers(stub, SECRET)  # not cached: the next checkout reads it again
    assert StripeSecrets(NAME).keys().api_key == "sk_test_cached"


def test_the_deployed_layer_reads_them_without_boto3_or_powertools_parameters(
    tmp_path: Path,
) -> None:
    script = f"""
import json, os, sys
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="AKID",
                  AWS_SECRET_ACCESS_KEY="x")
from botocore.stub import Stubber
from bonestore.adapters import parameters, secrets
with Stubber(secrets._reads.client()) as stub, Stubber(parameters._reads.client()) as ssm:
    stub.add_response("get_secret_value", {{"SecretString": json.dumps({SECRET!r})}})
    ssm.add_response("get_parameter", {{"Parameter": {{"Value": "https://shop.example/"}}}})
    print(secrets.StripeSecrets("s").keys().api_key, parameters.read_storefront_url("/p"))
print(sorted({{"boto3", "aws_lambda_powertools.utilities.parameters"}} & set(sys.modules)))
"""
    stdout = run_in_deployed_layer(script, tmp_path)
    assert stdout.split("\n")[:2] == ["sk_test_cached https://shop.example", "[]"]


def test_a_new_local_stack_drops_the_ssm_client_and_what_it_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make bench` starts one local stack after another in one process: a client kept on
    the first one's endpoint failed every email of the next (connection refused, after
    the value's five minutes)."""
    from bonestore.adapters import parameters
    from bonestore_infra.local_stack import _reset_process_caches

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    parameters._reads.values.get("/p", lambda: "https://old.example")
    client = parameters._reads.client()
    _reset_process_caches()
    assert parameters._reads.client() is not client
    assert (
        parameters._reads.values.get("/p", lambda: "https://new.example") == "https://new.example"
    )
    parameters.forget_cached_parameters()
