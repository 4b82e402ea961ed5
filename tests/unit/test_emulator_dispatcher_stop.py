"""The emulator's webhook dispatcher stops cleanly even while it is spawning a delivery."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bonestore_infra.stripe_emulator import webhooks
from bonestore_infra.stripe_emulator.webhooks import Dispatcher

pytestmark = pytest.mark.unit


def test_stop_racing_a_spawn_never_joins_an_unstarted_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stop() running between a delivery thread's creation and its start() must not raise.

    This was the teardown ERROR of the hosted-page tests under xdist: the thread was in
    the dispatcher's set before it was started, and stop() joined it.
    """
    dispatcher = Dispatcher(
        url="http://127.0.0.1:9/unused",
        secret="whsec_x",
        retry_delays=(30.0,),
        payload=lambda _event_id: b"{}",
        record=lambda _event_id, _attempt: None,
    )
    errors: list[BaseException] = []
    stopper_done = threading.Event()

    def stop_now() -> None:
        try:
            dispatcher.stop(timeout=2)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stopper_done.set()

    real_thread = threading.Thread

    class StopBeforeStart(real_thread):  # type: ignore[misc, valid-type]
        def start(self) -> None:
            # The worst moment: stop() runs after this thread exists, before it starts.
            stopper = real_thread(target=stop_now)
            stopper.start()
            stopper_done.wait(0.3)
            super().start()

    monkeypatch.setattr(webhooks.threading, "Thread", StopBeforeStart)
    dispatcher.deliver("evt_race", wait=False)
    assert stopper_done.wait(5), "stop() never returned"
    assert errors == []
    # And nothing is spawned once stopping.
    spawned: list[Any] = []
    monkeypatch.setattr(webhooks.threading, "Thread", lambda *a, **k: spawned.append(a))
    dispatcher.deliver("evt_late", wait=False)
    assert spawned == []
