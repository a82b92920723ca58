"""Cluster replica promotion mid-run (issue 20, test 2): nothing acknowledged is lost.

Three masters with one replica each on loopback (tests/cluster_failover.py);
two workers run while the test enqueues tasks and SIGKILLs the master of the
default queue's slot; its replica is promoted, and the killed node is
started again (it rejoins as a replica: the slot's only replica became its
master, and "replicated" writes need one). With DURABILITY "replicated",
every task whose enqueue returned runs exactly once, and the workers and the
producer follow the promotion without a restart. 1,500 tasks here, the kill
after 500 (CI budget); bench/failover_loss.py --cluster runs the issue's
5,000 and measures what "primary" loses.
"""

from __future__ import annotations

import pytest

from taskqueue.backends import backend_for
from tests import tasks
from tests.cluster_failover import ReplicatedCluster
from tests.conftest import wait_until
from tests.failover import queue_drained, run_failover

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster():
    cluster = ReplicatedCluster()
    yield cluster
    cluster.close()


@pytest.mark.usefixtures("key_prefix")
def test_replicated_loses_and_repeats_nothing_across_a_promotion(
    cluster, settings, start_worker, tmp_path
):
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"], "REDIS_URL": cluster.url,
        "DURABILITY": "replicated", "REPLICATION_TIMEOUT": 0.5,
        "ENQUEUE_ON_COMMIT": False,
    }  # fmt: skip
    settings.TASKS = tasks_setting
    broker = backend_for("default").broker
    cluster.aim(broker.keys("default").pending)
    record = tmp_path / "runs"
    env = {
        "REDIS_URL": cluster.url, "TQ_TEST_DURABILITY": "replicated",
        "TQ_TEST_REPLICATION_TIMEOUT": "0.5",
        # Longer than the promotion: nobody presumes the other worker dead.
        "TASKQUEUE_WORKER_TIMEOUT": "10",
    }  # fmt: skip
    workers = [start_worker("--queue", "default", env=env) for _ in range(2)]
    wait_until(lambda: len(broker.workers()) == 2, timeout=30)
    cluster.restart_after_promotion()  # the slot needs a replica again

    outcome = run_failover(
        cluster,
        enqueue=lambda: tasks.record_run.enqueue(str(record)).id,
        drained=queue_drained(broker),
        record=record, total=1500, kill_at=500, timeout=25,
    )  # fmt: skip

    figures = (  # shown on failure, and with pytest -rA
        f"acknowledged={len(outcome.acknowledged)} unsure={len(outcome.unsure)} "
        f"failed={outcome.failed} promotion={outcome.failover_seconds:.1f}s"
    )
    assert outcome.failover_seconds > 0, figures  # the replica took over mid-run
    assert len(outcome.acknowledged) == 1500, figures
    assert outcome.lost == [], figures
    assert outcome.twice == [], figures
    assert all(outcome.runs[task_id] <= 1 for task_id in outcome.unsure)
    # Both followed the promotion without a restart: each runs tasks enqueued now.
    pids = {worker.proc.pid for worker in workers}
    assert all(worker.proc.poll() is None for worker in workers)

    def both_ran_a_new_task() -> bool:
        tasks.record_run.enqueue(str(record))
        ran = [line.split() for line in record.read_text().splitlines()[-200:]]
        return pids <= {int(pid) for _, pid in ran}

    wait_until(both_ran_a_new_task, timeout=15, interval=0.1)
