"""A Cluster with one master down (issue 20): a worker that never loaded its
scripts still claims on the slots that are up.

A private three-master cluster with ``cluster-require-full-coverage no`` (the
session's shared cluster is left alone); one master is SIGKILLed before the
broker first runs a script. The claim loads the script on its own slot's
master only.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import redis

from taskqueue.broker import Broker, ClaimPolicy, Outgoing
from taskqueue.exceptions import BrokerUnavailable
from tests.cluster.conftest import NODES, Node, _create, _free_ports, _server
from tests.conftest import wait_until

pytestmark = pytest.mark.cluster
POLICY = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=60)


@pytest.fixture
def partial_cluster():
    server, bus_option = _server()
    if not bus_option:
        pytest.skip("needs Redis 7 (--cluster-port) for a private cluster")
    base = Path(tempfile.mkdtemp(prefix="tqp-", dir="/tmp"))
    ports = _free_ports(2 * NODES)
    nodes = [Node(ports[i], ports[NODES + i], base / str(i)) for i in range(NODES)]
    try:
        for node in nodes:
            node.start(server, bus_option=True)
        _create(nodes)
        for node in nodes:
            with node.client() as client:
                client.config_set("cluster-require-full-coverage", "no")
                client.config_set("cluster-node-timeout", "1000")  # fail fast
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_a_fresh_worker_claims_on_the_slots_that_are_up(partial_cluster):
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in partial_cluster)
    broker = Broker.connect(url, prefix="p:")
    by_port = {n.port: n for n in partial_cluster}
    owner = {
        queue: broker.client.get_node_from_key(broker.keys(queue).pending).port
        for queue in ("q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7")
    }
    down = next(iter(owner.values()))
    up = next(q for q, port in owner.items() if port != down)
    lost = next(q for q, port in owner.items() if port == down)
    for queue in (up, lost):
        broker.client.rpush(broker.keys(queue).pending, b'{"v":1,"id":"x1"}')
    by_port[down].stop()
    wait_until(lambda: _sees_down(partial_cluster, down), timeout=30)

    with pytest.raises(BrokerUnavailable):  # scripts for every master: one is down
        broker.load_scripts()
    taken = broker.claim(up, "c1", POLICY)
    assert [m.raw for m in taken.messages] == [b'{"v":1,"id":"x1"}']
    broker.enqueue(up, Outgoing(["y1"], [b"m"], priority=3))  # a script, too
    with pytest.raises(BrokerUnavailable):  # the queue whose master is down
        broker.claim(lost, "c1", POLICY)
    broker.close()


def _sees_down(nodes: list[Node], port: int) -> bool:
    """A surviving master marks the killed one as failed."""
    for node in nodes:
        if node.port == port:
            continue
        try:
            with node.client() as client:
                text = client.execute_command("CLUSTER", "NODES")
        except redis.RedisError:
            return False
        listing = text if isinstance(text, str) else str(text)
        return f":{port}@" in listing and "fail" in listing
    return False


def test_a_broker_made_while_the_first_master_is_down_claims_on_the_others(
    partial_cluster,
):
    """The client's start-up asks the first master (slot 0's) for COMMAND: with
    that master down, a worker or web process starting now still connects."""
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in partial_cluster)
    first = partial_cluster[0]  # owns slot 0: the client's default node
    first.stop()
    wait_until(lambda: _sees_down(partial_cluster, first.port), timeout=30)

    broker = Broker.connect(url, prefix="f:")  # raised BrokerUnavailable before
    up = next(
        queue
        for queue in (f"q{n}" for n in range(20))
        if broker.client.get_node_from_key(broker.keys(queue).pending).port
        != first.port
    )
    broker.enqueue(up, Outgoing(["z1"], [b'{"v":1,"id":"z1"}'], priority=0))
    taken = broker.claim(up, "c1", POLICY)
    assert [m.raw for m in taken.messages] == [b'{"v":1,"id":"z1"}']
    broker.close()
