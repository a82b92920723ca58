"""Sentinel failover mid-run (issue 20, test 1): nothing acknowledged is lost.

A primary, two replicas and three sentinels on loopback; two workers run
while the test enqueues 5,000 tasks and SIGKILLs the primary after 1,500.
With DURABILITY "replicated", every task whose enqueue returned runs exactly
once, workers and producer follow the new primary without a restart. (The
"primary" figure, what that mode loses, is measured by bench/failover_loss.py.)
"""

from __future__ import annotations

import contextlib

import pytest

from taskqueue.backends import backend_for
from taskqueue.exceptions import NotDurable
from tests import tasks
from tests.conftest import wait_until
from tests.failover import SentinelSet, queue_drained, run_failover

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sentinels(tmp_path):
    sentinels = SentinelSet(tmp_path)
    yield sentinels
    sentinels.close()


@pytest.mark.usefixtures("key_prefix")
def test_replicated_loses_and_repeats_nothing_across_a_failover(
    sentinels, settings, start_worker, tmp_path
):
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"], "REDIS_URL": sentinels.url,
        "DURABILITY": "replicated", "REPLICATION_TIMEOUT": 0.5,
        "ENQUEUE_ON_COMMIT": False,
    }  # fmt: skip
    settings.TASKS = tasks_setting
    record = tmp_path / "runs"
    env = {
        "REDIS_URL": sentinels.url, "TQ_TEST_DURABILITY": "replicated",
        "TQ_TEST_REPLICATION_TIMEOUT": "0.5",
        # Longer than the failover: nobody presumes the other worker dead.
        "TASKQUEUE_WORKER_TIMEOUT": "10",
    }  # fmt: skip
    workers = [start_worker("--queue", "default", env=env) for _ in range(2)]
    # Running before the failover, as the scenario has it (a worker that
    # starts while no primary is known exits at once: "cannot reach Redis").
    broker = backend_for("default").broker
    wait_until(lambda: len(broker.workers()) == 2, timeout=30)

    outcome = run_failover(
        sentinels,
        enqueue=lambda: tasks.record_run.enqueue(str(record)).id,
        drained=queue_drained(broker),
        record=record,
    )

    figures = (  # shown on failure, and with pytest -rA
        f"acknowledged={len(outcome.acknowledged)} unsure={len(outcome.unsure)} "
        f"failed={outcome.failed} failover={outcome.failover_seconds:.1f}s"
    )
    assert sentinels.promoted()
    assert len(outcome.acknowledged) == 5000
    assert outcome.lost == [], figures
    assert outcome.twice == [], figures
    assert all(outcome.runs[task_id] <= 1 for task_id in outcome.unsure)
    # Both followed the failover without a restart: each runs tasks enqueued
    # now (one may still be backing off when the rest of the 5,000 is done).
    pids = {worker.proc.pid for worker in workers}
    assert all(worker.proc.poll() is None for worker in workers)

    def both_ran_a_new_task() -> bool:
        # The old primary may still be syncing as the new one's replica: an
        # enqueue is then NotDurable (it may exist; a probe counts either way).
        with contextlib.suppress(NotDurable):
            tasks.record_run.enqueue(str(record))
        ran = [line.split() for line in record.read_text().splitlines()[-200:]]
        return pids <= {int(pid) for _, pid in ran}

    wait_until(both_ran_a_new_task, timeout=30, interval=0.1)
