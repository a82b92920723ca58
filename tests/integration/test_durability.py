"""DURABILITY "replicated" against a real primary and replica: WAIT after each write.

The enqueue, the claim and the settle are each followed by WAIT on the
connection that wrote; too few replicas means NotDurable for the producer, a
claim that is not run, a settle written again until it is confirmed.
"""

from __future__ import annotations

import pytest
import redis

from taskqueue.backends import backend_for
from taskqueue.broker import Broker, ClaimPolicy, Durability, Outgoing, Settlement
from taskqueue.compat import TaskResultStatus
from taskqueue.exceptions import BrokerUnavailable, NotDurable, NotReplicated
from tests import tasks
from tests.replication import ReplicaSet

POLICY = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=60)
FAST = Durability(replicas=1, timeout_ms=500)  # a loaded machine: room to spare


@pytest.fixture
def servers():
    servers = ReplicaSet(1)
    yield servers
    servers.close()


@pytest.fixture
def replicated(servers):
    broker = Broker.connect(servers.primary.url, prefix="d:", durability=FAST)
    yield broker
    broker.close()


def waits(port: int) -> int:
    stats = redis.Redis(port=port).info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


def on_replica(servers: ReplicaSet, key: str) -> bool:
    replica = redis.Redis(port=servers.replicas[0].port)
    return bool(replica.exists(key))


def test_an_enqueue_returns_once_the_replica_has_it(servers, replicated):
    replicated.load_scripts()
    before = waits(servers.primary.port)
    replicated.enqueue("default", Outgoing(["t1"], [b'{"v":1,"id":"t1"}']))
    replicated.enqueue("default", Outgoing(["t2"], [b'{"v":1,"id":"t2"}'], 5, 0.0))

    assert waits(servers.primary.port) == before + 2  # plain and scripted enqueues
    assert on_replica(servers, replicated.keys("default").pending)
    assert on_replica(servers, replicated.keys("default").prio)


def test_without_a_replica_enqueue_raises_not_durable_naming_the_tasks(
    servers, replicated
):
    servers.kill_replicas()

    with pytest.raises(NotDurable) as caught:
        replicated.enqueue("default", Outgoing(["t1", "t2"], [b"a", b"b"]))

    assert caught.value.task_ids == ("t1", "t2")
    assert (caught.value.acknowledged, caught.value.wanted) == (0, 1)
    assert isinstance(caught.value, BrokerUnavailable)  # an outage to a retry loop
    assert "check get_result(id)" in str(caught.value)
    # The primary has them: "may exist", as the exception says.
    assert replicated.client.llen(replicated.keys("default").pending) == 2


def test_a_claim_not_proven_replicated_is_not_handed_out(servers, replicated):
    replicated.enqueue("default", Outgoing(["t1"], [b'{"v":1,"id":"t1"}']))
    servers.kill_replicas()

    with pytest.raises(NotReplicated):
        replicated.claim("default", "c1", POLICY)

    servers.replicas.append(servers.start_replica())
    # The worker's next claim on that queue is a reset (fetch marks it unsure):
    # the message comes back, once.
    again = replicated.claim("default", "c1", POLICY, reset=True)
    assert [m.raw for m in again.messages] == [b'{"v":1,"id":"t1"}']


def test_a_settle_not_proven_replicated_raises_and_lands_when_written_again(
    servers, replicated
):
    replicated.enqueue("default", Outgoing(["t1"], [b'{"v":1,"id":"t1"}']))
    (held,) = replicated.claim("default", "c1", POLICY).messages
    servers.kill_replicas()
    outcome = Settlement("done", held.raw, "t1", "SUCCESSFUL", b"42")

    with pytest.raises(NotReplicated):
        replicated.settle("default", "c1", [outcome], ttl=60)

    servers.replicas.append(servers.start_replica())
    replicated.settle("default", "c1", [outcome], ttl=60)  # what the Settler does
    assert on_replica(servers, replicated.keys("default").result("t1"))


def test_settles_behind_a_claim_wait_for_the_replica_too(servers, replicated):
    k = replicated.keys("default")
    replicated.enqueue("default", Outgoing(["t1", "t2"], [b'{"v":1,"id":"t1"}'] * 2))
    (first,) = replicated.claim("default", "c1", POLICY, reset=False).messages[:1]
    outcome = Settlement("done", first.raw, "t1", "SUCCESSFUL", b"1")
    before = waits(servers.primary.port)

    _, replies = replicated.claim_then_settle(
        "default", "c1", POLICY, settles={"default": [outcome]}, ttl=60
    )

    assert replies.wait() is True
    assert waits(servers.primary.port) == before + 2  # behind the claim, the settles
    assert on_replica(servers, k.result("t1"))


def test_a_claim_behind_settles_without_a_replica_raises(servers, replicated):
    replicated.enqueue("default", Outgoing(["t1"], [b'{"v":1,"id":"t1"}']))
    (held,) = replicated.claim("default", "c1", POLICY).messages
    replicated.enqueue("default", Outgoing(["t2"], [b'{"v":1,"id":"t2"}']))
    servers.kill_replicas()
    outcome = Settlement("done", held.raw, "t1", "SUCCESSFUL", b"1")

    with pytest.raises(NotReplicated, match="the claim"):
        replicated.claim_then_settle(
            "default", "c1", POLICY, settles={"default": [outcome]}, ttl=60
        )
    # The connection is back in step: the next command works.
    assert replicated.ping()


def test_primary_mode_sends_no_wait(servers):
    broker = Broker.connect(servers.primary.url, prefix="p:")
    before = waits(servers.primary.port)
    broker.enqueue("default", Outgoing(["t1"], [b'{"v":1,"id":"t1"}']))
    (held,) = broker.claim("default", "c1", POLICY).messages
    broker.settle("default", "c1", [Settlement("done", held.raw, "t1")], ttl=60)
    broker.close()

    assert waits(servers.primary.port) == before


@pytest.mark.django_db(transaction=True)
def test_the_backend_raises_not_durable_and_the_task_can_be_looked_up(
    servers, settings
):
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"],
        "REDIS_URL": servers.primary.url,
        "DURABILITY": "replicated",
        "REPLICATION_TIMEOUT": 0.5,
    }
    settings.TASKS = tasks_setting
    assert backend_for("default").broker.url == servers.primary.url
    assert tasks.add.enqueue(1, 2).status == TaskResultStatus.READY
    servers.kill_replicas()

    with pytest.raises(NotDurable) as caught:
        tasks.add.enqueue(2, 3)

    (task_id,) = caught.value.task_ids
    assert tasks.add.get_result(task_id).status == TaskResultStatus.READY


def test_enqueue_scripts_of_unique_tasks_and_workflows_wait_for_replicas(
    servers, replicated
):
    replicated.load_scripts()
    before = waits(servers.primary.port)
    replicated.enqueue_unique(
        "default", Outgoing(["u1"], [b'{"v":1,"id":"u1"}']), ["ab" * 20], hold=60
    )
    assert waits(servers.primary.port) == before + 1
    servers.kill_replicas()

    with pytest.raises(NotDurable) as caught:
        replicated.enqueue_unique(
            "default", Outgoing(["u2"], [b'{"v":1,"id":"u2"}']), ["cd" * 20], hold=60
        )
    assert caught.value.task_ids == ("u2",)
    with pytest.raises(NotDurable) as caught:
        replicated.start_workflow(
            "default", "wf1", entries=[("s1", b'{"v":1,"id":"s1"}')], release=1,
            fields={"kind": "chain", "n": 1}, ttl=60,
        )  # fmt: skip
    assert caught.value.task_ids == ("s1",)
