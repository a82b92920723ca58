"""Django's task signals reach receivers in the worker, with the real TaskResult."""

from __future__ import annotations

import json

import pytest

from tests import tasks

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_the_worker_sends_started_and_finished_with_the_backend_as_sender(
    run_command, tmp_path
):
    log = tmp_path / "signals.jsonl"
    good = tasks.add.enqueue(1, 2)
    bad = tasks.permanent_failure.enqueue()

    done = run_command("runworker", "--burst", env={"TEST_SIGNAL_LOG": str(log)})

    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    seen = {(e["signal"], e["id"], e["status"]) for e in events}
    assert ("started", good.id, "RUNNING") in seen
    assert ("finished", good.id, "SUCCESSFUL") in seen
    assert ("finished", bad.id, "FAILED") in seen
    assert {e["sender"] for e in events} == {"taskqueue.backends.RedisBackend"}
    assert all(e["attempts"] == 1 for e in events)
