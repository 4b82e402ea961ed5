"""A child process a test starts and must never leave behind (``bonestore serve``).

Its output is read by a thread, so waiting for a line is bounded by a deadline even
when the child prints nothing; stopping asks first (SIGINT, as Ctrl-C does, or SIGTERM)
and then escalates to SIGTERM and SIGKILL of its whole process group, each wait bounded,
so a child that ignores the signal, or a grandchild it started, never outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

# How long each escalation step waits for the process to end.
STEP_SECONDS = 10.0


def _die_with_the_test_process() -> None:
    """In the child, before it runs: the kernel kills it when the process that started it
    dies (Linux ``PR_SET_PDEATHSIG``), so a test run killed outright (no ``finally``, no
    fixture teardown) leaves no serve behind either."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


class ChildProcess:
    def __init__(self, command: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # its own process group: signals reach its children too
            preexec_fn=_die_with_the_test_process if sys.platform == "linux" else None,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # The signals stop() had to send beyond the polite one (empty: it stopped when asked).
        self.escalated: list[str] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The output up to the first line containing ``text``; AssertionError (with the
        output so far) if the process ends or ``timeout`` passes first."""
        seen = ""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"the process ended before {text!r}:\n{seen}")
            seen += line
            if text in line:
                return seen
        raise AssertionError(f"no {text!r} within {timeout}s:\n{seen}")

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, sig)

    def stop(
        self,
        first: signal.Signals | None = signal.SIGINT,
        timeout: float = 30,
        step: float = STEP_SECONDS,
    ) -> str:
        """Send ``first`` to the process (None: send nothing, it is to exit by itself) and
        wait up to ``timeout``; then SIGTERM and SIGKILL to its process group, ``step``
        seconds each. Returns all its output. Never raises for a stuck child: check
        ``returncode`` and ``escalated``."""
        if first is not None and self.process.poll() is None:
            self.process.send_signal(first)
        waits = [(None, timeout), (signal.SIGTERM, step), (signal.SIGKILL, step)]
        for sig, seconds in waits:
            if sig is not None:
                if self.process.poll() is not None:
                    break
                self.escalated.append(sig.name)
                self._signal_group(sig)
            try:
                self.process.wait(seconds)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children the process left in its group (it ended, they did not) go too.
        self._signal_group(signal.SIGKILL)
        self._reader.join(step)
        return "".join(self._output)
