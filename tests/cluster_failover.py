"""Redis Cluster replica promotion under load: three masters, one replica each.

``ReplicatedCluster`` starts six nodes on free loopback ports above 30000
(``cluster-node-timeout`` 1000 ms, so a dead master is failed over in about two
seconds), gives the slots to three of them as tests/cluster/conftest.py does,
then makes each of the others a replica of one master (CLUSTER REPLICATE).
``aim(key)`` picks the master of a key's slot as the one ``kill_primary``
SIGKILLs; ``promoted`` says when its replica has taken the slot over. It has
the interface ``tests.failover.run_failover`` drives, so the Sentinel
scenario runs unchanged on a Cluster (tests/process/test_cluster_failover.py,
bench/failover_loss.py --cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import redis

from tests.cluster.conftest import NODES, Node, _create, _is_free, _server
from tests.conftest import wait_until

NODE_TIMEOUT_MS = 1000
# A replica's full sync starts at once (the default waits 5 s for more replicas).
SYNC_NOW = ("repl-diskless-sync-delay", "0")


def _ports_above_30000(count: int) -> list[int]:
    """Distinct free loopback ports in 30000-32767 (below Linux's ephemeral range,
    so a client's own port cannot take one before the node binds it)."""
    candidates = random.sample(range(30000, 32768), 200)
    ports = [port for port in candidates if _is_free(port)][:count]
    if len(ports) < count:
        raise RuntimeError("no free ports above 30000")
    return ports


class ClusterView:
    """The nodes' ports and the master aimed at: enough for another process
    (bench/failover_loss.py's child) to watch the promotion and cause it."""

    def __init__(self, ports: list[int], target: int, target_pid: int, heir: int):
        self.ports, self.target, self.target_pid, self.heir = (
            ports, target, target_pid, heir,
        )  # fmt: skip

    @classmethod
    def attach(cls, workdir: Path) -> ClusterView:
        saved = json.loads((workdir / "cluster.json").read_text())
        return cls(saved["ports"], saved["target"], saved["target_pid"], saved["heir"])

    def save(self, workdir: Path) -> None:
        saved = {"ports": self.ports, "target": self.target}
        saved.update(target_pid=self.target_pid, heir=self.heir)
        (workdir / "cluster.json").write_text(json.dumps(saved))

    @property
    def url(self) -> str:
        """The masters as start-up nodes (the client learns the replicas itself)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def kill_primary(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.target_pid, signal.SIGKILL)

    def promoted(self) -> bool:
        """The killed master's replica is a master and the cluster is whole again."""
        try:
            with redis.Redis(port=self.heir, socket_timeout=1) as client:
                role = client.execute_command("ROLE")
                info = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return False
        text = info.decode() if isinstance(info, bytes) else str(info)
        return role[0] in (b"master", "master") and "cluster_state:ok" in text


class ReplicatedCluster(ClusterView):
    """Three masters with one replica each, on loopback (all killed by ``close``)."""

    def __init__(self) -> None:
        server, bus_option = _server()
        if not bus_option:
            raise RuntimeError("a private cluster needs Redis 7 (--cluster-port)")
        self.base = Path(tempfile.mkdtemp(prefix="tqr-", dir="/tmp"))
        ports = _ports_above_30000(4 * NODES)
        self.nodes = [
            Node(ports[i], ports[2 * NODES + i], self.base / str(i))
            for i in range(2 * NODES)
        ]
        masters, replicas = self.nodes[:NODES], self.nodes[NODES:]
        try:
            for node in self.nodes:
                node.start(server, bus_option=True)
            # Other test runs pick ports above 30000 too: a node that lost the
            # race for its port exits, and another server answers there.
            wait_until(lambda: all(_ours(node) for node in self.nodes), timeout=10)
            _create(masters)
            for node in self.nodes:
                with node.client() as client:
                    client.config_set("cluster-node-timeout", str(NODE_TIMEOUT_MS))
                    client.config_set(*SYNC_NOW)
            pairs = list(zip(masters, replicas, strict=True))
            for master, replica in pairs:
                _attach_replica(master, replica)
            for _, replica in pairs:
                wait_until(lambda r=replica: _linked(r), timeout=20)
            # A master votes for a replica's promotion only once it knows the
            # replica is its peer's: wait until the gossip has told everyone.
            wait_until(
                lambda: all(_sees_replicas(m, NODES) for m in masters), timeout=20
            )
        except BaseException:
            self.close()
            raise
        self.replica_of = {
            m.port: r.port for m, r in zip(masters, replicas, strict=True)
        }
        first = masters[0]
        assert first.proc is not None
        super().__init__(
            [m.port for m in masters], first.port, first.proc.pid, replicas[0].port
        )

    def restart_after_promotion(self, timeout: float = 60) -> threading.Thread:
        """Start the killed master again once its replica has taken over (what an
        orchestrator does): it rejoins as the new master's replica, so a slot
        with DURABILITY "replicated" has a replica to confirm its writes again.
        Until then that slot's writes are NotDurable (its only replica is the
        new master). A thread: the producer and workers keep running meanwhile."""
        server, _ = _server()
        dead = next(node for node in self.nodes if node.port == self.target)

        def restart() -> None:
            deadline = time.monotonic() + timeout
            while not self.promoted():
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            if dead.proc is not None:
                dead.proc.wait(timeout=10)  # reaped: SIGKILLed by its pid
            dead.start(server, bus_option=True)

        thread = threading.Thread(target=restart, daemon=True)
        thread.start()
        return thread

    def aim(self, key: str) -> None:
        """Make the master of ``key``'s slot the one ``kill_primary`` kills."""
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        share = 16384 // NODES
        master = self.nodes[min(slot // share, NODES - 1)]
        assert master.proc is not None
        self.target, self.target_pid = master.port, master.proc.pid
        self.heir = self.replica_of[master.port]

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _ours(node: Node) -> bool:
    """Is the server answering on the node's port the process we started?"""
    if node.proc is None or node.proc.poll() is not None:
        raise RuntimeError(f"redis-server on port {node.port} exited (port taken?)")
    try:
        with node.client() as client:
            return int(client.info("server")["process_id"]) == node.proc.pid
    except redis.RedisError:
        return False


def _node_id(node: Node) -> str:
    with node.client() as client:
        return str(client.execute_command("CLUSTER", "MYID"), "ascii")


def _attach_replica(master: Node, replica: Node) -> None:
    """CLUSTER MEET, then CLUSTER REPLICATE once the replica knows the master."""
    master_id = _node_id(master)
    with replica.client() as client:
        client.execute_command(
            "CLUSTER", "MEET", "127.0.0.1", master.port, master.bus_port
        )

        def knows_master() -> bool:
            listing = client.execute_command("CLUSTER", "NODES")
            text = listing.decode() if isinstance(listing, bytes) else str(listing)
            return master_id in text

        wait_until(knows_master, timeout=20)
        client.execute_command("CLUSTER", "REPLICATE", master_id)


def _linked(replica: Node) -> bool:
    """Is the replica in sync with its master (the link is up)?"""
    with replica.client() as client:
        info = client.info("replication")
    return info.get("master_link_status") == "up"


def _sees_replicas(node: Node, count: int) -> bool:
    """Does ``node``'s view of the cluster have ``count`` replicas, all linked?"""
    with node.client() as client:
        listing = client.execute_command("CLUSTER", "NODES")
    text = listing.decode() if isinstance(listing, bytes) else str(listing)
    rows = [line.split() for line in text.splitlines() if line.strip()]
    replicas = [row for row in rows if "slave" in row[2] and row[3] != "-"]
    return len(replicas) == count and all(row[7] == "connected" for row in rows)
