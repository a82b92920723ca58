"""The queue on a real three-master Redis Cluster (see conftest.py).

Three things are proved here: the queue core works unchanged through a
``redis+cluster://`` URL (every Lua script runs because all of its keys share
the queue's hash tag), a SIGKILLed worker's task is recovered by another
worker through the cluster, and queues really spread over the masters while
each queue's keys stay in one slot.
"""

from __future__ import annotations

import signal
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from django.utils import timezone
from redis.crc import key_slot

from recipe.models import Recipe
from taskqueue import registry
from taskqueue.backends import enqueue_many
from taskqueue.broker import ClaimPolicy
from taskqueue.compat import TaskResultStatus, task_backends
from taskqueue.keys import QueueKeys
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import dead_reasons, envelope_bytes
from tests.recovery import a_sigkilled_workers_tasks_are_run_by_another

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

SPREAD_QUEUES = ["default", "high", "emails", "reports", "images", "video"]
POLICY = ClaimPolicy(max_batch=10, worker_timeout=30, result_ttl=3600)


def status_of(task: Any, result_id: str) -> Any:
    return task.get_result(result_id).status


def test_the_client_from_a_cluster_url_is_a_cluster_client(broker, redis_cluster):
    assert isinstance(broker.client, redis.RedisCluster)
    assert len(broker.client.get_primaries()) == 3
    assert broker.url == redis_cluster
    assert broker.ping()


@pytest.mark.process
def test_sync_tasks_on_two_queues_run_and_their_results_are_readable(
    run_command, broker
):
    added = tasks.add.enqueue(2, 3)
    high = tasks.high_add.enqueue(4, 5)  # priority 10: the queue's prio zset
    assert (broker.stats("default").pending, broker.stats("high").pending) == (1, 1)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    assert "redis+cluster://" in done.stderr
    for task, result, value in [(tasks.add, added, 5), (tasks.high_add, high, 9)]:
        fetched = task.get_result(result.id)
        assert fetched.status == TaskResultStatus.SUCCESSFUL
        assert fetched.return_value == value
        assert fetched.attempts == 1
    assert broker.stats("default").as_dict() == {
        "name": "default", "pending": 0, "in_flight": 0, "scheduled": 0, "dead": 0,
        "paused": False,
    }  # fmt: skip


@pytest.mark.process
def test_bulk_enqueue_runs_every_task_once(run_command, broker):
    results = enqueue_many(tasks.add, [((i, i), {}) for i in range(200)])
    assert broker.stats("default").pending == 200

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    returned = [tasks.add.get_result(r.id).return_value for r in results]
    assert returned == [2 * i for i in range(200)]
    assert done.stderr.count("Task succeeded") == 200


@pytest.mark.process
def test_a_legacy_recipe_message_is_processed(run_command, broker):
    recipe = Recipe.objects.create(
        name="Soup", ingredients="water\nsalt", instructions="Boil for 10 minutes."
    )
    broker.push_raw("default", b'{"recipe_id": %d}' % recipe.id)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    recipe.refresh_from_db()
    assert (recipe.processed_count, recipe.ingredient_count) == (1, 2)
    assert broker.stats("default").dead == 0


@pytest.mark.process
def test_poison_is_dead_lettered_and_can_be_requeued(run_command, broker):
    broker.push_raw("default", b"not json at all")
    broker.push_raw("default", envelope_bytes("os.system", args=["true"]))
    good = tasks.add.enqueue(1, 1)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    assert tasks.add.get_result(good.id).return_value == 2
    reasons = dead_reasons(broker)
    assert len(reasons) == 2
    assert any("not JSON" in r for r in reasons)
    assert any("unknown task 'os.system'" in r for r in reasons)
    ids = broker.dead_letter_ids("default")
    assert broker.dead_action("default", "requeue", ids[:1]) == 1  # dead.lua
    assert (broker.stats("default").pending, broker.stats("default").dead) == (1, 1)


@pytest.mark.process
def test_a_scheduled_task_runs_after_its_time(start_worker, broker):
    run_after = timezone.now() + timedelta(seconds=1)
    result = tasks.add.using(run_after=run_after).enqueue(20, 22)
    assert broker.stats("default").scheduled == 1
    worker = start_worker()

    wait_until(
        lambda: status_of(tasks.add, result.id) == TaskResultStatus.SUCCESSFUL,
        timeout=30,
    )

    fetched = tasks.add.get_result(result.id)
    assert fetched.return_value == 42
    assert fetched.started_at >= run_after
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


@pytest.mark.process
def test_a_sigkilled_workers_task_is_recovered_by_another_worker(start_worker, broker):
    a_sigkilled_workers_tasks_are_run_by_another(start_worker, broker)


@pytest.fixture
def unprefixed(settings: Any, redis_cluster: str) -> Iterator[Any]:
    """The production key layout (no KEY_PREFIX) on this session's private cluster.

    The cluster belongs to this test session alone and tests run one at a
    time, so every key can be flushed afterwards.
    """
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["QUEUES"] = SPREAD_QUEUES
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"],
        "REDIS_URL": redis_cluster,
        "KEY_PREFIX": "",
    }
    settings.TASKS = tasks_setting
    yield task_backends["default"].broker
    registry.reset()
    for node in _nodes(redis_cluster):
        node.flushall()
        node.close()


def _nodes(url: str) -> list[redis.Redis]:
    netloc = urlsplit(url).netloc
    return [
        redis.Redis(host=host, port=int(port), socket_timeout=5)
        for host, _, port in (hostport.partition(":") for hostport in netloc.split(","))
    ]


def _keys_by_queue(url: str) -> dict[str, dict[str, set[Any]]]:
    """Where each queue's keys really are: {queue: {"nodes": ..., "slots": ...}}."""
    tags = {QueueKeys.for_queue(q).tag.strip("{}"): q for q in SPREAD_QUEUES}
    found: dict[str, dict[str, set[Any]]] = defaultdict(
        lambda: {"nodes": set(), "slots": set(), "keys": set()}
    )
    for node in _nodes(url):
        with node:
            port = node.connection_pool.connection_kwargs["port"]
            for key in node.scan_iter(count=1000):
                tag = key.decode().partition("{")[2].partition("}")[0]
                queue = tags[tag or key.decode()]  # the default list has no braces
                found[queue]["nodes"].add(port)
                found[queue]["slots"].add(node.execute_command("CLUSTER KEYSLOT", key))
                found[queue]["keys"].add(key.decode())
    return found


def test_queues_spread_over_the_masters_and_each_queue_keeps_one_slot(
    unprefixed, redis_cluster
):
    broker = unprefixed
    for queue in SPREAD_QUEUES:
        tasks.add.using(queue_name=queue).enqueue(1, 2)
        tasks.add.using(queue_name=queue, priority=5).enqueue(3, 4)
        tasks.add.using(queue_name=queue, run_after=timedelta(hours=1)).enqueue(5, 6)
        broker.push_raw(queue, b"raw bytes")
        claimed = broker.claim(queue, "c1", POLICY)  # claim.lua
        assert len(claimed.messages) == 1

    found = _keys_by_queue(redis_cluster)

    slots = {}
    for queue in SPREAD_QUEUES:
        keys = QueueKeys.for_queue(queue)
        assert found[queue]["keys"] >= {
            keys.pending, keys.scheduled, keys.consumers, keys.inflight("c1"),
        }  # fmt: skip
        assert len(found[queue]["nodes"]) == 1, (queue, found[queue])
        assert found[queue]["slots"] == {key_slot(keys.tag.encode())}
        slots[queue] = found[queue]["slots"].pop()
    assert len(set(slots.values())) == len(SPREAD_QUEUES)
    nodes = {queue: found[queue]["nodes"].pop() for queue in SPREAD_QUEUES}
    assert nodes["default"] != nodes["high"]
    assert len(set(nodes.values())) == 3


def test_a_cluster_url_with_a_password_is_masked_whole():
    from taskqueue.connection import mask_url

    url = "rediss+cluster://app:s3cret@host1:6379,host2:6380"
    assert mask_url(url) == "rediss+cluster://app:***@host1:6379,host2:6380"
