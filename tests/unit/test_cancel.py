"""The worker's view of cancels and pauses, without Redis (the steps' logic)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from taskqueue import cancellation
from taskqueue.outcomes import Failed, Poison, Succeeded
from taskqueue.worker import cancels
from taskqueue.worker.pause import PauseState
from tests.helpers import sample_envelope


@pytest.fixture(autouse=True)
def _nothing_cancelled():
    cancellation.update({})
    yield
    cancellation.update({})


def test_cancel_requested_reads_a_context_a_result_or_an_id():
    cancellation.update({"t1": "stop"})
    result = SimpleNamespace(id="t1")

    assert cancellation.cancel_requested(SimpleNamespace(task_result=result))
    assert cancellation.cancel_requested(result)
    assert cancellation.cancel_requested("t1")
    assert not cancellation.cancel_requested("t2")
    assert not cancellation.cancel_requested(None)


def test_update_calls_the_hook_of_each_newly_cancelled_task_once():
    called = []
    cancellation.on_cancel("t1", lambda: called.append("t1"))

    assert cancellation.update({"t1": "stop"}) == ["t1"]
    assert cancellation.update({"t1": "stop", "t2": "stop"}) == ["t2"]
    assert called == ["t1"]
    cancellation.on_cancel("t1", None)


def test_a_hook_registered_after_the_cancel_runs_at_once():
    cancellation.update({"t1": "stop"})
    called = []

    cancellation.on_cancel("t1", lambda: called.append(1))

    assert called == [1]
    cancellation.on_cancel("t1", None)


def test_before_start_and_after_run_turn_a_cancelled_task_into_a_failure():
    envelope = sample_envelope(id="t1")
    ran = Succeeded(envelope, b"1", 0.1)
    assert cancels.before_start(envelope) is None
    assert cancels.after_run(ran, 0.0) is ran

    cancellation.update({"t1": "terminate"})

    skipped = cancels.before_start(envelope)
    stopped = cancels.after_run(ran, 0.0)
    assert isinstance(skipped, Failed)
    assert isinstance(stopped, Failed)
    assert b"TaskCancelled" in skipped.error_json
    assert skipped.summary.startswith("TaskCancelled")
    poison = Poison("bad", "t1", envelope)
    assert cancels.after_run(poison, 0.0) is poison


def test_pause_state_follows_the_claims_and_passes_cancels_on():
    seen = []
    state = PauseState()
    state.on_control = seen.append
    assert state.next_look() == []

    state.claimed("a", "P")
    state.claimed("b", "C")

    assert state.queues == {"a"}
    assert state.all_of(["a"])
    assert not state.all_of(["a", "b"])
    assert len(state.next_look()) == 1
    state.claimed("a", "")
    assert state.queues == set()
    assert seen == ["P", "C"]
