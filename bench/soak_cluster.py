"""bench/soak.py --cluster: a three-master Redis Cluster, and Redis figures that
add up over its masters.

The cluster is the one tests/cluster/conftest.py makes (three
``redis-server --cluster-enabled yes`` nodes, slots split by CLUSTER ADDSLOTS,
joined by CLUSTER MEET), on free loopback ports above 30000 as
tests/cluster_failover.py picks them, without persistence and without
replicas: the soak measures what the queue keeps, not failover. Memory is the
sum of ``used_memory`` over the masters (each one's is reported too), and
``MEMORY USAGE`` of a key is asked of the node that holds the key's slot.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.cluster.conftest import NODES, Node, _create, _server
from tests.cluster_failover import _ports_above_30000


class SoakCluster:
    """Three masters, no replicas; ``url`` is their ``redis+cluster://`` URL."""

    def __init__(self) -> None:
        server, bus_option = _server()
        if not bus_option:  # Redis 6.2: the bus is port + 10000, above 40000
            raise RuntimeError("bench.soak --cluster needs redis-server 7 or newer")
        ports = _ports_above_30000(2 * NODES)
        self.base = Path(tempfile.mkdtemp(prefix="tq-soak-cluster-", dir="/tmp"))
        self.nodes = [
            Node(port=ports[i], bus_port=ports[NODES + i], dir=self.base / str(i))
            for i in range(NODES)
        ]
        try:
            for node in self.nodes:
                node.start(server, bus_option=True)
            _create(self.nodes)
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def masters_used_memory(client: Any) -> list[int]:
    """``used_memory`` of each master, in port order."""
    from redis.cluster import RedisCluster

    replies = client.info("memory", target_nodes=RedisCluster.PRIMARIES)
    return [int(replies[name]["used_memory"]) for name in sorted(replies)]


def memory_usage_on_owner(client: Any, key: bytes | str) -> int:
    """MEMORY USAGE of ``key``, asked of the master that holds its slot."""
    node = client.get_node_from_key(key)
    return int(client.get_redis_connection(node).memory_usage(key) or 0)


def keys_per_master(client: Any) -> list[int]:
    """Keys on each master, in port order: where the queue's keys landed."""
    from redis.cluster import RedisCluster

    replies = client.info("keyspace", target_nodes=RedisCluster.PRIMARIES)
    return [
        int(replies[name].get("db0", {}).get("keys", 0)) for name in sorted(replies)
    ]
