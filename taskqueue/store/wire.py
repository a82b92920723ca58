"""The wire: commands packed by hiredis, sent in one write, replies read in step.

Cheaper than a pipeline object or redis-py's command layer (packing alone
cost a worker 15% of its time there), which is what makes a single enqueue
cost about one RPUSH and lets a claim carry the last batch's settles. Only a
plain client has one connection to write to; a cluster client goes through
redis-py's own calls (the callers check ``Wire.plain``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import hiredis
import redis
from redis.cluster import RedisCluster
from redis.connection import Connection, ConnectionPool

from taskqueue.store.errors import translate_errors

if TYPE_CHECKING:
    from taskqueue.store.durability import Durability

Client: TypeAlias = redis.Redis | RedisCluster
Command: TypeAlias = tuple[Any, ...]


class Wire:
    """Sends commands over this thread's held connection of a plain client."""

    def __init__(self, client: Client) -> None:
        self.plain: redis.Redis | None = (
            client if isinstance(client, redis.Redis) else None
        )
        self._held = _HeldConnection()

    def send(self, *commands: Command) -> list[Any]:
        """Send commands in one write and read their replies (no MULTI, no Lua).

        Every reply is read before an error reply is raised, so the
        connection stays in step; any other failure drops the connection
        (its replies could no longer be matched to commands).
        """
        connection = self.connection()
        replies: list[Any] = []
        error: redis.ResponseError | None = None
        try:
            connection.send_packed_command(pack(commands))
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as exc:
                    error = error or exc
        except BaseException:
            connection.disconnect()
            raise
        if error is not None:
            raise error
        return replies

    def connection(self) -> Connection:
        """This thread's connection for ``send``, checked like the pool checks one.

        Kept by the thread between calls instead of going back to the pool:
        redis-py's checkout and release cost a single enqueue about a fifth of
        its time. As the pool does, a connection that has data waiting or was
        closed by the server (a restart, an idle timeout) is reconnected before
        use, and a forked child never uses its parent's socket. The pool
        keeps no strong reference to a connection it lent: it is closed when
        its thread ends (a thread per request leaks nothing; tested).
        """
        held = self._held
        connection = held.connection
        if connection is None or held.pid != os.getpid():
            connection = self.pool().get_connection()
            held.connection, held.pid = connection, os.getpid()
            return connection
        try:
            if connection.can_read():
                raise redis.ConnectionError("unexpected data on an idle connection")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
            connection.connect()
        return connection

    def send_ahead(
        self, commands: Sequence[Command], *, head: int = 1,
        durability: Durability | None = None,
    ) -> tuple[list[Any], SettleReplies]:  # fmt: skip
        """Send commands in one write; read the first ``head`` replies, the rest later.

        The rest are read by ``SettleReplies.wait()`` on a connection taken
        from the pool and held for them until then (with ``durability``, the
        last of them is a WAIT's). A NOSCRIPT first reply reads and drops
        the rest before it is raised.
        """
        pool = self.pool()
        connection = pool.get_connection()
        replies = SettleReplies(
            pool, connection, len(commands) - head, durability=durability
        )
        first: list[Any] = []
        missing: redis.exceptions.NoScriptError | None = None
        try:
            connection.send_packed_command(pack(commands))
            for _ in range(head):
                try:
                    first.append(connection.read_response())
                except redis.exceptions.NoScriptError as exc:
                    missing = missing or exc
                    first.append(None)
        except BaseException:
            replies.abandon()
            raise
        if missing is not None:
            replies.discard()
            raise missing
        return first, replies

    def pool(self) -> ConnectionPool:
        if self.plain is None:
            raise TypeError("a cluster client has no connection of its own to hold")
        return self.plain.connection_pool


class _HeldConnection(threading.local):
    """The connection a thread keeps for ``Wire.send`` (see ``Wire.connection``)."""

    def __init__(self) -> None:
        self.connection: Connection | None = None
        self.pid = 0


class SettleReplies:
    """Replies to settle scripts that were sent ahead, on a connection held for them."""

    def __init__(
        self, pool: ConnectionPool | None, connection: Connection | None, count: int,
        *, durability: Durability | None = None,
    ) -> None:  # fmt: skip
        self.pool, self.connection, self.count = pool, connection, count
        self.durability = durability  # set: the last reply is a WAIT's

    @translate_errors
    def wait(self) -> bool:
        """Read the replies. True: the outcomes are stored; False: the server had
        lost the script (a restart), so the caller must settle again (which
        loads it). BrokerUnavailable if the connection failed."""
        if self.connection is None:
            return True
        error: redis.ResponseError | None = None
        missing = False
        last: Any = None
        try:
            for _ in range(self.count):
                try:
                    last = self.connection.read_response()
                except redis.exceptions.NoScriptError:
                    missing = True
                except redis.ResponseError as exc:
                    error = error or exc
            if self.durability is not None and not missing and error is None:
                missing = not self._replicated(last)
        except BaseException:
            self.abandon()
            raise
        self._release()
        if error is not None:
            raise error
        return not missing

    def _replicated(self, acknowledged: Any) -> bool:
        """The settles' WAIT confirmed them, or a second WAIT on this connection
        (which covers the same writes) does: a replica that lagged once."""
        durability, connection = self.durability, self.connection
        if durability is None or not durability.short(acknowledged):
            return True
        if connection is None:
            return False
        connection.send_packed_command(pack([durability.command()]))
        return not durability.short(connection.read_response())

    def discard(self) -> None:
        """Read and drop the replies (the caller settles again itself)."""
        self.durability = None  # no second WAIT for replies nobody reads
        with contextlib.suppress(redis.ResponseError):
            self.wait()

    def abandon(self) -> None:
        """Drop the connection: its replies can no longer be matched to commands."""
        if self.connection is not None:
            self.connection.disconnect()
            self._release()

    def _release(self) -> None:
        if self.pool is not None and self.connection is not None:
            self.pool.release(self.connection)
        self.connection = None


def pack(commands: Sequence[Command]) -> list[bytes]:
    """The commands in the Redis protocol, by hiredis (a dependency of ours)."""
    return [b"".join([hiredis.pack_command(command) for command in commands])]
