"""SnapStart: the template turns it on where the cold start needs it, and those
functions register the runtime hooks that make a restored environment safe."""

from __future__ import annotations

import importlib.util
import random
import sys
from typing import Any

import pytest

from bonestore_infra.template import Template

pytestmark = pytest.mark.unit

SNAPSTART_FUNCTIONS = {"EligibilityFunction", "CheckoutFunction"}


def snapstart_problems(resources: dict[str, Any], wanted: set[str]) -> list[str]:
    """What is wrong with SnapStart in the template's functions."""
    problems = []
    for name in sorted(wanted):
        props = resources.get(name, {}).get("Properties", {})
        if props.get("SnapStart") != {"ApplyOn": "PublishedVersions"}:
            problems.append(f"{name}: SnapStart ApplyOn PublishedVersions missing")
        if props.get("ProvisionedConcurrencyConfig"):
            problems.append(f"{name}: SnapStart cannot be combined with provisioned concurrency")
        if int(props.get("EphemeralStorage", {}).get("Size", 512)) > 512:
            problems.append(f"{name}: SnapStart needs ephemeral storage of at most 512 MB")
    return problems


@pytest.fixture(scope="module")
def template() -> Template:
    return Template()


def test_snapstart_is_on_where_the_cold_start_needs_it(template: Template) -> None:
    globals_ = template.globals
    assert globals_.get("AutoPublishAlias"), "SnapStart applies to published versions only"
    assert globals_.get("Runtime") in ("python3.12", "python3.13")
    assert snapstart_problems(template.resources, SNAPSTART_FUNCTIONS) == []


def test_the_gate_fails_on_a_function_without_snapstart(template: Template) -> None:
    resources = {k: dict(v) for k, v in template.resources.items()}
    props = dict(resources["CheckoutFunction"]["Properties"])
    del props["SnapStart"]
    props["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": 1}
    resources["CheckoutFunction"] = {**resources["CheckoutFunction"], "Properties": props}
    assert snapstart_problems(resources, SNAPSTART_FUNCTIONS) == [
        "CheckoutFunction: SnapStart ApplyOn PublishedVersions missing",
        "CheckoutFunction: SnapStart cannot be combined with provisioned concurrency",
    ]


@pytest.mark.parametrize("name", sorted(SNAPSTART_FUNCTIONS))
def test_snapstart_functions_register_both_hooks(
    template: Template, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing the handler registers a before-snapshot and an after-restore hook with
    Lambda's runtime module (a stand-in here: it exists only in Lambda)."""
    from bonestore.api import snapstart

    registered: dict[str, list[Any]] = {"before": [], "after": []}
    fake = type(sys)("snapshot_restore_py")
    fake.register_before_snapshot = registered["before"].append  # type: ignore[attr-defined]
    fake.register_after_restore = registered["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    fn = template.functions()[name]
    spec = importlib.util.spec_from_file_location(f"snapstart_{name}", fn.module_path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert len(registered["before"]) == 1
    assert len(registered["after"]) == 1
    assert registered["after"][0] is snapstart.REGISTERED["after_restore"][-1]


def test_checkout_also_drops_the_cached_stripe_secret_after_restore() -> None:
    source = (Template().functions()["CheckoutFunction"].module_path).read_text("utf-8")
    assert "after_restore=[forget_cached_secrets]" in source


def test_after_restore_reseeds_and_drops_clients_and_the_stripe_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSNAPSHOT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "snapshot")
    from bonestore.adapters import aws
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.api import deps, snapstart

    random.seed(7)
    in_snapshot = random.random()
    client = dynamodb_client()
    loader = aws._session().get_component("data_loader")
    deps._built["stripe_secrets"] = object()  # what the snapshot would carry
    from bonestore.adapters import secrets

    secrets._reads.values.get("snapshot-secret", lambda: {"api_key": "sk_test_in_snapshot"})
    secrets_client = secrets._reads.client()
    forget_cached_secrets = secrets.forget_cached_secrets
    random.seed(7)
    hooks = snapstart.REGISTERED["after_restore"]
    snapstart.register(after_restore=[forget_cached_secrets])
    hooks[-1]()
    assert random.random() != in_snapshot
    assert dynamodb_client() is not client
    # Credentials resolved again, from a new session; the data files it loaded kept.
    assert dynamodb_client()._request_signer._credentials is not client._request_signer._credentials
    assert (
        dynamodb_client().meta.events is not client.meta.events
        and aws._session().get_component("data_loader") is loader
    )
    assert "stripe_secrets" not in deps._built
    assert secrets._reads.client() is not secrets_client
    reads: list[str] = []
    secrets._reads.values.get("snapshot-secret", lambda: reads.append("read") or {})
    assert reads == ["read"]  # the snapshot's value is gone: read again


def test_without_the_runtime_module_nothing_is_registered_with_lambda() -> None:
    from bonestore.api import snapstart

    assert "snapshot_restore_py" not in sys.modules
    assert snapstart.register(lambda: None) is False
