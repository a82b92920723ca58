"""The SIGKILL-recovery scenario, shared by the single-server and cluster suites."""

from __future__ import annotations

import signal
from typing import Any

from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until


def status_of(task: Any, task_id: str) -> TaskResultStatus:
    return task.get_result(task_id).status


def a_sigkilled_workers_tasks_are_run_by_another(
    start_worker: Any, broker: Any
) -> None:
    """A worker killed mid-task: a second worker recovers and runs all its tasks."""
    results = enqueue_many(tasks.sleep_for, [((0.5,), {}) for _ in range(4)])
    victim = start_worker("--name", "victim")
    wait_until(
        lambda: status_of(tasks.sleep_for, results[0].id) == TaskResultStatus.RUNNING,
        timeout=30,
    )

    victim.signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert broker.stats("default").in_flight >= 1
    rescuer = start_worker("--name", "rescuer")

    wait_until(
        lambda: all(
            status_of(tasks.sleep_for, r.id) == TaskResultStatus.SUCCESSFUL
            for r in results
        ),
        timeout=30,
    )
    assert "Recovered" in rescuer.output
    # The task the victim was running when killed finished on the rescuer.
    first = tasks.sleep_for.get_result(results[0].id)
    assert first.worker_ids, first
    assert first.worker_ids[-1].startswith("rescuer."), first.worker_ids
    assert broker.stats("default").in_flight == 0
    rescuer.signal(signal.SIGTERM)
    assert rescuer.wait(timeout=15) == 0
