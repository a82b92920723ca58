"""A primary with replicas of the test's own (DURABILITY "replicated" tests)."""

from __future__ import annotations

import redis

from tests.conftest import wait_until
from tests.helpers import PrivateRedis


class ReplicaSet:
    """One primary and ``count`` replicas on free loopback ports (killed after)."""

    def __init__(self, count: int = 1) -> None:
        # Diskless sync with no delay: a replica is in sync within milliseconds.
        self.primary = PrivateRedis(
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"
        ).start()
        wait_until(lambda: _answers(self.primary.port))
        self.replicas = [self.start_replica() for _ in range(count)]

    def start_replica(self) -> PrivateRedis:
        replica = PrivateRedis(
            "--replicaof", "127.0.0.1", str(self.primary.port)
        ).start()
        wait_until(lambda: _linked(replica.port), timeout=15)
        # Just after a full sync a WAIT can time out once (the replica answers
        # the primary's GETACK late): ready when a fresh write is confirmed.
        primary = redis.Redis(port=self.primary.port)
        wanted = len(getattr(self, "replicas", ())) + 1

        def confirmed() -> bool:
            primary.incr("replica-set:probe")
            return int(primary.execute_command("WAIT", wanted, 200)) >= wanted

        wait_until(confirmed, timeout=15)
        return replica

    def connected_replicas(self) -> int:
        info = redis.Redis(port=self.primary.port).info("replication")
        return int(info.get("connected_slaves", 0))

    def kill_replicas(self) -> None:
        for replica in self.replicas:
            replica.kill()
        wait_until(lambda: self.connected_replicas() == 0)
        self.replicas = []

    def close(self) -> None:
        for server in (*self.replicas, self.primary):
            server.kill()


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _linked(port: int) -> bool:
    """Is the replica on ``port`` in sync with its primary?"""
    try:
        info = redis.Redis(port=port, socket_timeout=1).info("replication")
    except redis.RedisError:
        return False
    return info.get("master_link_status") == "up"
