"""A Cluster master dies and its replica is promoted (issue 20): the broker
follows the slot to the new master without a restart, though the dead node
never comes back.

A replicated write goes on a connection of its own to the slot's master
(taskqueue/store/durability.py). Connecting to the killed master fails before
a command is sent; that failure must refresh the slot map too, or every retry
goes to the dead node for ever (the restarted node's MOVED reply was what
rescued it before).
"""

from __future__ import annotations

import pytest

from taskqueue.broker import Broker, Outgoing
from taskqueue.exceptions import BrokerUnavailable, NotReplicated
from taskqueue.store.durability import Durability
from tests.cluster_failover import ReplicatedCluster
from tests.conftest import wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster():
    cluster = ReplicatedCluster()
    yield cluster
    cluster.close()


def test_a_replicated_enqueue_follows_the_promoted_replica(cluster):
    broker = Broker.connect(cluster.url, prefix="pr:", durability=Durability(1, 200))
    cluster.aim(broker.keys("default").pending)
    # The first write waits longer for its replica: on a loaded machine 200 ms
    # was once not enough, and this one must be confirmed.
    patient = Broker.connect(cluster.url, prefix="pr:", durability=Durability(1, 5000))
    patient.enqueue("default", Outgoing(["a"], [b'{"v":1,"id":"a"}'], priority=0))
    patient.close()
    cluster.kill_primary()
    wait_until(cluster.promoted, timeout=15)

    def reaches_the_new_master() -> bool:
        try:
            broker.enqueue(
                "default", Outgoing(["b"], [b'{"v":1,"id":"b"}'], priority=0)
            )
        except NotReplicated:  # the new master ran it: it has no replica yet
            return True
        except BrokerUnavailable:  # still the dead node
            return False
        raise AssertionError("confirmed by a replica the new master does not have")

    wait_until(reaches_the_new_master, timeout=10, interval=0.1)
    assert (
        broker.client.get_node_from_key(broker.keys("default").pending).port
        == cluster.heir
    )
    broker.close()
