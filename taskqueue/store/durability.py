"""Replicated writes (DURABILITY "replicated"): a write, then WAIT, on one connection.

Redis replicates asynchronously: a write the primary acknowledged is lost if
the primary dies before a replica has it and that replica is promoted.
``WAIT numreplicas timeout`` answers how many replicas have every write this
connection made so far, so it must follow the write on the same connection:
here it is sent in the same write as the commands it covers (the held
connection of a plain client, or a connection to the slot's primary on a
Cluster, the node that ran the script).

Replication offsets are one ordered stream, so a WAIT also covers every write
made before it on any connection (the BLMOVE of a blocked consumer, whose
claim follows it).

What each caller does when too few replicas answer is its own rule (see
docs/durability.md): ``enqueue()`` raises NotDurable, a claim hands its
messages back unrun, a settle is written again until confirmed. With
DURABILITY "primary" (the default) none of this runs: the store's
``replicated`` attribute is None and the hot path checks only that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import RedisCluster

from taskqueue.conf import QueueOptions
from taskqueue.exceptions import NotReplicated
from taskqueue.store.scripts import Scripts
from taskqueue.store.wire import Client, Command, Wire, pack


@dataclass(frozen=True, slots=True)
class Durability:
    """How many replicas must confirm a write, and how long to wait for them."""

    replicas: int
    timeout_ms: int

    @classmethod
    def from_options(cls, options: QueueOptions) -> Durability | None:
        """None for "primary" (nothing waits); the WAIT's arguments otherwise."""
        if options.durability != "replicated":
            return None
        return cls(
            replicas=options.min_replicas,
            timeout_ms=max(1, round(options.replication_timeout * 1000)),
        )

    def command(self) -> Command:
        return ("WAIT", self.replicas, self.timeout_ms)

    def short(self, acknowledged: Any) -> bool:
        """Did fewer replicas than required confirm (a WAIT's reply)?"""
        return not isinstance(acknowledged, int) or acknowledged < self.replicas

    def check(self, acknowledged: Any, what: str) -> None:
        """Raise NotReplicated unless a WAIT's reply shows enough replicas."""
        if self.short(acknowledged):
            raise NotReplicated(
                f"{what}: {acknowledged} of {self.replicas} replicas confirmed it "
                f"within {self.timeout_ms} ms",
                acknowledged=acknowledged if isinstance(acknowledged, int) else 0,
                wanted=self.replicas,
            )


class ReplicatedWrites:
    """Commands followed by WAIT on one connection to the primary that runs them."""

    def __init__(
        self, client: Client, wire: Wire, scripts: Scripts, *, durability: Durability
    ) -> None:
        self.client = client
        self.wire = wire
        self.scripts = scripts
        self.durability = durability

    def send(self, key: str, commands: Sequence[Command], what: str) -> list[Any]:
        """The replies to ``commands`` (not to the WAIT), once enough replicas have them.

        ``key`` picks the node on a Cluster. Raises NotReplicated (the
        commands ran on the primary) or what the commands raised.
        """
        batch = [*commands, self.durability.command()]
        if self.wire.plain is not None:
            replies = self.wire.send(*batch)
        else:
            replies = self._send_to_slot(key, batch)
        self.durability.check(replies[-1], what)
        return replies[:-1]

    def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script then WAIT; a server that lost the scripts gets them all again."""
        command = self.scripts.evalsha(name, keys, args)
        try:
            return self.send(keys[0], [command], f"the {name} script")[0]
        except redis.exceptions.NoScriptError:
            if self.wire.plain is None:  # only the slot's primary: others may be down
                self.scripts.load_on_slot(name, keys[0])
            else:
                self.scripts.load_all()
        return self.send(keys[0], [command], f"the {name} script")[0]

    def _send_to_slot(self, key: str, batch: Sequence[Command]) -> list[Any]:
        """One write on a connection to the primary of ``key``'s slot (Cluster).

        redis-py's cluster calls may route each command elsewhere, and WAIT
        has no key: so the batch goes to that node's own client. A MOVED or
        ASK reply (the slot moved, a replica was promoted), and a node that
        cannot be reached (a killed master, before and after its replica is
        promoted), refresh the slot map before they are raised as outages.
        """
        cluster = self.client
        if not isinstance(cluster, RedisCluster):
            raise TypeError("only a cluster client has slots")
        node = cluster.get_node_from_key(key)  # type: ignore[no-untyped-call]
        pool = cluster.get_redis_connection(node).connection_pool
        try:
            connection = pool.get_connection()  # connects: the node may be dead
        except BaseException:
            _refresh_slots(cluster)  # else every retry goes to the dead node
            raise
        replies: list[Any] = []
        error: redis.ResponseError | None = None
        try:
            connection.send_packed_command(pack(batch))
            for _ in batch:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as exc:
                    error = error or exc
        except BaseException:
            connection.disconnect()
            _refresh_slots(cluster)
            raise
        finally:
            pool.release(connection)
        if error is not None:
            if isinstance(error, redis.exceptions.AskError):
                _refresh_slots(cluster)
            raise error
        return replies


def _refresh_slots(cluster: RedisCluster) -> None:
    """Ask the cluster for its slot map again (after a failover); never raises."""
    with contextlib.suppress(redis.RedisError, OSError):
        cluster.nodes_manager.initialize()
