"""`bonestore serve` as a user runs it: a real process, real ports, Ctrl-C to stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bonestore_infra.local_aws import free_port

pytestmark = pytest.mark.integration

BONESTORE = [sys.executable, "-m", "bonestore_infra.cli"]


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BONESTORE_HOME": str(Path.cwd() / ".bonestore")}
    return subprocess.Popen(
        [*BONESTORE, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_for_banner(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        if "Press Ctrl-C to stop." in line:
            return seen
    process.kill()
    raise AssertionError(f"serve did not start:\n{seen}")


def test_serve_runs_everything_and_stops_cleanly_on_ctrl_c() -> None:
    api, stripe, dynamo = free_port(), free_port(), free_port()
    process = _start(
        "--port", str(api), "--stripe-port", str(stripe), "--dynamodb-port", str(dynamo)
    )
    try:
        banner = _wait_for_banner(process)
        assert f"http://127.0.0.1:{api}/" in banner
        assert f"http://127.0.0.1:{stripe}" in banner
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/products", timeout=30) as response:
            items = json.loads(response.read())["items"]
        assert len(items) == 7
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped." in output
    assert "Traceback" not in output


def test_serve_says_which_port_is_taken() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        process = _start(
            "--port", str(taken), "--stripe-port", str(free_port()), "--dynamodb-port", "0"
        )
        output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert f"port {taken}" in output
    assert "already in use" in output
    assert "Traceback" not in output
