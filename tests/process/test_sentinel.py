"""REDIS_URL=redis+sentinel://...: the queue through a real local Sentinel."""

from __future__ import annotations

import subprocess

import pytest
import redis

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis, free_port, redis_server_binary

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sentinel_url(tmp_path):
    """A master and one sentinel watching it, as redis+sentinel://h:p/mymaster/0."""
    master = PrivateRedis().start()
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
    )
    sentinel = subprocess.Popen(
        [redis_server_binary(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _knows_master(port, master.port))
        yield f"redis+sentinel://127.0.0.1:{port}/mymaster/0"
    finally:
        sentinel.kill()
        sentinel.wait(timeout=10)
        master.kill()


def _knows_master(port: int, master_port: int) -> bool:
    try:
        addr = redis.Redis(port=port).execute_command(
            "SENTINEL", "get-master-addr-by-name", "mymaster"
        )
    except redis.RedisError:
        return False
    return bool(addr) and int(addr[1]) == master_port


@pytest.mark.usefixtures("key_prefix")
def test_tasks_run_through_a_sentinel_managed_master(
    sentinel_url, settings, run_command
):
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"],
        "REDIS_URL": sentinel_url,
    }
    settings.TASKS = tasks_setting
    result = tasks.add.enqueue(20, 22)

    done = run_command("runworker", "--burst", env={"REDIS_URL": sentinel_url})

    assert done.returncode == 0, done.stderr
    assert f"broker: {sentinel_url}" in done.stderr
    final = tasks.add.get_result(result.id)
    assert final.status == TaskResultStatus.SUCCESSFUL
    assert final.return_value == 42
