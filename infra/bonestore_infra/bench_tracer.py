"""What Powertools Tracer would add to a cold start: ``python -m bonestore_infra.bench_tracer``.

Each run is a fresh process set up as a Lambda environment is (function name, task
root, a sampled ``_X_AMZN_TRACE_ID``; the X-Ray daemon address on loopback, where the
UDP segments go unread) that has already imported Powertools' Logger and made a
DynamoDB client, as every function has. It then times, in CPU and wall ms, either one
stubbed ``GetItem`` (``plain``), or creating ``Tracer`` with the given ``patch_modules``
plus the same call inside ``capture_method`` (the first patched call). The figures are
in README.md#tracing; the decision they support is in docs/deploy.md#tracing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

MODES = {
    "plain": None,
    "botocore": "botocore",
    "botocore+httplib": "botocore,httplib",  # Stripe's HTTP: urllib3 on http.client
    "defaults": "",  # Tracer() as documented: patches every supported module
}

CHILD = r"""
import json, os, sys, time
patch = sys.argv[1]
import boto3
from aws_lambda_powertools import Logger  # noqa: F401 - what every function pays already
from botocore.stub import Stubber
client = boto3.client("dynamodb")
stub = Stubber(client)
stub.add_response("get_item", {})
stub.activate()
wall, cpu = time.perf_counter(), time.process_time()
if patch == "plain":
    client.get_item(TableName="t", Key={"k": {"S": "v"}})
else:
    from aws_lambda_powertools import Tracer
    modules = tuple(patch.split(",")) if patch else None
    tracer = Tracer(service="bonestore", patch_modules=modules)

    @tracer.capture_method
    def first_call():
        return client.get_item(TableName="t", Key={"k": {"S": "v"}})

    first_call()
print(json.dumps({"cpu_ms": (time.process_time() - cpu) * 1e3,
                  "wall_ms": (time.perf_counter() - wall) * 1e3}))
"""


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a stub's, never sent anywhere
        AWS_LAMBDA_FUNCTION_NAME="bench",
        LAMBDA_TASK_ROOT="/tmp",  # noqa: S108 - only read to detect Lambda
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
        POWERTOOLS_SERVICE_NAME="bonestore",
    )
    return env


def measure(mode: str, runs: int) -> dict[str, float]:
    patch = "plain" if MODES[mode] is None else str(MODES[mode])
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, patch],
            env=_environment(),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        samples.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "cpu_ms": statistics.median(s["cpu_ms"] for s in samples),
        "wall_ms": statistics.median(s["wall_ms"] for s in samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per mode")
    args = parser.parse_args(argv)
    print("| Tracer | median CPU ms | median wall ms |\n|---|---|---|")
    for mode in MODES:
        figures = measure(mode, args.runs)
        print(f"| {mode} | {figures['cpu_ms']:.0f} | {figures['wall_ms']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
