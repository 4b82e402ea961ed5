"""`bonestore serve` as a user runs it: a real process, real ports, Ctrl-C to stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bonestore_infra.local_aws import free_port
from tests.processes import ChildProcess

pytestmark = pytest.mark.integration

BONESTORE = [sys.executable, "-m", "bonestore_infra.cli"]


def _start(*args: str, home: Path | None = None) -> ChildProcess:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "BONESTORE_HOME": str(home or Path.cwd() / ".bonestore"),
    }
    return ChildProcess([*BONESTORE, "serve", *args], env=env)


BANNER_END = "Press Ctrl-C to stop."


def test_serve_runs_everything_and_stops_cleanly_on_ctrl_c() -> None:
    api, stripe, dynamo = free_port(), free_port(), free_port()
    process = _start(
        "--port", str(api), "--stripe-port", str(stripe), "--dynamodb-port", str(dynamo)
    )
    try:
        banner = process.wait_for(BANNER_END)
        assert f"http://127.0.0.1:{api}/" in banner
        assert f"http://127.0.0.1:{stripe}" in banner
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/products", timeout=30) as response:
            items = json.loads(response.read())["items"]
        assert len(items) == 7
    finally:
        output = process.stop(signal.SIGINT)  # as Ctrl-C; escalates if it is ignored
    assert process.escalated == [], output
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
        # It exits by itself; one that does not is stopped, never left running.
        output = process.stop(None, timeout=60)
    assert process.escalated == [], output
    assert process.returncode != 0
    assert f"port {taken}" in output
    assert "already in use" in output
    assert "Traceback" not in output


def _bonestore(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Another terminal: no AWS variables, no API URL, only the same BONESTORE_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BONESTORE_"))}
    env["BONESTORE_HOME"] = str(home)
    return subprocess.run(
        [*BONESTORE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_serve_prints_staff_users_that_other_commands_sign_in_as(tmp_path: Path) -> None:
    import re

    home = tmp_path / "home"
    api = free_port()
    process = _start(
        "--port", str(api), "--stripe-port", str(free_port()), "--dynamodb-port", "0", home=home
    )
    try:
        banner = process.wait_for(BANNER_END)
        passwords = dict(re.findall(r"^\s+(support|ops|warehouse)\s+password (\S+)$", banner, re.M))
        assert set(passwords) == {"support", "ops", "warehouse"}, banner
        state = home / "serve.json"
        assert state.stat().st_mode & 0o077 == 0  # it holds passwords: the owner's only

        token = _bonestore(home, "dev-token", "--group", "ops")
        assert token.returncode == 0, token.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{api}/admin/rules",
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        # The contract: "a bearer token (any group name, e.g. support, ops, customer)";
        # a group the API does not know is a real token that grants nothing (403).
        customer = _bonestore(home, "dev-token", "--group", "customer")
        assert customer.returncode == 0, customer.stderr
        assert "created group 'customer'" in customer.stderr
        forbidden = urllib.request.Request(
            f"http://127.0.0.1:{api}/admin/rules",
            headers={"Authorization": f"Bearer {customer.stdout.strip()}"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forbidden, timeout=30)
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["error"]["code"] == "forbidden"
        again = _bonestore(home, "dev-token", "--group", "customer")
        assert again.returncode == 0 and "created group" not in again.stderr, again.stderr
        expired = _bonestore(home, "dev-token", "--group", "ops", "--expires-in", "-5")
        assert expired.returncode == 0, expired.stderr
        assert expired.stdout.strip() != token.stdout.strip()

        check = _bonestore(
            home, "support", "check", "--country", "AU", "--sku", "TRUEOSTEO-120", "--qty", "5",
            "--username", "support", f"--password={passwords['support']}",
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert f"API http://127.0.0.1:{api}" in check.stderr
        assert "au-three-months-supply" in check.stdout

        rules = Path(__file__).parents[2] / "shared/bonestore/data/ruleset.yaml"
        diff = _bonestore(home, "rules", "diff", str(rules), str(rules), "--local")
        assert diff.returncode == 0, diff.stderr
        assert "in the local stack" in diff.stdout
    finally:
        output = process.stop(signal.SIGINT)
    assert process.escalated == [], output
    assert process.returncode == 0, output
    assert not (home / "serve.json").exists()
    kept = json.loads((home / "staff-passwords.json").read_text())
    assert kept == passwords  # the next `bonestore serve` keeps them


def test_dev_token_without_a_running_stack_says_so(tmp_path: Path) -> None:
    result = _bonestore(tmp_path, "dev-token", "--group", "support")
    assert result.returncode == 1
    assert "no running `bonestore serve` found" in result.stderr


def test_a_child_that_ignores_ctrl_c_is_still_stopped_with_its_children() -> None:
    """What the tests above rely on: stop() escalates, bounded, and leaves nothing behind."""
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    process = ChildProcess([sys.executable, "-c", stubborn])
    line = process.wait_for("child ", timeout=30)
    grandchild = int(line.split()[-1])
    started = time.monotonic()
    process.stop(signal.SIGINT, timeout=0.5, step=2)
    assert time.monotonic() - started < 10
    assert process.escalated == ["SIGTERM", "SIGKILL"]
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its dead parent's reaper) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_child_dies_with_a_test_process_killed_outright() -> None:
    """No finally runs when the test process is SIGKILLed: the kernel stops the child."""
    parent_code = (
        "import sys, time\n"
        "from tests.processes import ChildProcess\n"
        "child = ChildProcess([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('child', child.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    repo = Path(__file__).parents[2]
    parent = ChildProcess(
        [sys.executable, "-c", parent_code], env={**os.environ, "PYTHONPATH": str(repo)}
    )
    child = int(parent.wait_for("child ", timeout=30).split()[-1])
    assert _alive(child)
    os.kill(parent.process.pid, signal.SIGKILL)
    parent.stop(None, timeout=5, step=2)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
