"""A worker with DURABILITY "replicated" runs nothing it cannot prove replicated."""

from __future__ import annotations

import pytest

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.replication import ReplicaSet

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def servers():
    servers = ReplicaSet(1)
    yield servers
    servers.close()


@pytest.mark.usefixtures("key_prefix")
def test_a_worker_without_a_replica_waits_then_runs_the_task_once(
    servers, settings, start_worker, tmp_path
):
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"], "REDIS_URL": servers.primary.url,
    }  # fmt: skip
    settings.TASKS = tasks_setting
    marker = tmp_path / "ran"
    result = tasks.write_marker.enqueue(str(marker))  # DURABILITY "primary" here
    servers.kill_replicas()

    worker = start_worker(
        env={"REDIS_URL": servers.primary.url, "TQ_TEST_DURABILITY": "replicated"}
    )
    wait_until(lambda: "0 of 1 replicas confirmed it" in worker.output, timeout=20)
    assert not marker.exists()
    # Claimed (the claim marks it RUNNING) and handed back, never run.
    assert tasks.write_marker.get_result(result.id).status in {
        TaskResultStatus.READY, TaskResultStatus.RUNNING,
    }  # fmt: skip

    servers.replicas.append(servers.start_replica())
    wait_until(
        lambda: (
            tasks.write_marker.get_result(result.id).status
            == TaskResultStatus.SUCCESSFUL
        ),
        timeout=20,
    )
    assert len(marker.read_text().splitlines()) == 1
    assert "Redis is back" in worker.output
