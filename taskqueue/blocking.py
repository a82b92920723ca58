"""WakeableBroker: the worker's broker, whose blocking waits a stop ends at once.

An idle consumer sits in BLMOVE for up to its block timeout (2 s), in one
thread per queue when it has several. A signal cannot cut that short: the
handler runs, and Python retries the socket read (PEP 475). A shorter
timeout would cost idle Redis commands. So every BLMOVE runs on a
connection whose CLIENT ID is known, and ``wake()`` sends ``CLIENT
UNBLOCK`` for each one from another connection: the server answers the
BLMOVE with nil, as on a timeout, atomically (a message is either moved and
returned, or left in the queue). The ids are read once per connection, so
an idle worker sends no extra command.

Cluster clients keep the plain BLMOVE (a stop waits out the timeout there);
so does a server that refuses CLIENT UNBLOCK (an ACL without ``@connection``).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

import redis
from redis.connection import Connection

from taskqueue.broker import Broker, Client, translate_errors

log = logging.getLogger("taskqueue.worker")
RETRY_UNBLOCK = 0.02  # seconds: an UNBLOCK can reach the server before its BLMOVE


class WakeableBroker(Broker):
    """A Broker whose ``block()`` returns None at once after ``wake()``."""

    def __init__(self, client: Client, *, url: str, prefix: str = "") -> None:
        super().__init__(client, url=url, prefix=prefix)
        self._lock = threading.Lock()
        self._blocked: dict[int, int] = {}  # id(connection) -> its CLIENT ID
        # connection -> (its socket, its CLIENT ID); forgotten with the connection
        self._client_ids: weakref.WeakKeyDictionary[Connection, tuple[Any, int]] = (
            weakref.WeakKeyDictionary()
        )
        self._woken = False

    @translate_errors
    def block(self, queue: str, consumer: str, timeout: float) -> bytes | None:
        """BLMOVE as Broker.block does, on a connection ``wake()`` can unblock."""
        if self.wire.plain is None:
            return super().block(queue, consumer, timeout)
        k = self.keys(queue)
        pool = self.wire.plain.connection_pool
        connection = pool.get_connection()
        try:
            if not self._register(connection):
                return None
            try:
                connection.send_command(
                    "BLMOVE", k.pending, k.inflight(consumer), "LEFT", "RIGHT", timeout
                )
                raw: bytes | None = connection.read_response()
            finally:
                with self._lock:
                    self._blocked.pop(id(connection), None)
        except BaseException:
            connection.disconnect()  # a reply may still be on its way
            raise
        finally:
            pool.release(connection)
        return raw

    def _register(self, connection: Connection) -> bool:
        """Note the connection as blocked; False once woken (do not block)."""
        client_id = self._client_id(connection)
        with self._lock:
            if self._woken:
                return False
            self._blocked[id(connection)] = client_id
        return True

    def _client_id(self, connection: Connection) -> int:
        """The server's id for this connection, asked once per (re)connect."""
        connection.connect()  # a no-op when connected
        sock = connection._sock  # identity changes on every reconnect
        known = self._client_ids.get(connection)
        if known is not None and known[0] is sock:
            return known[1]
        connection.send_command("CLIENT", "ID")
        client_id = int(connection.read_response())
        self._client_ids[connection] = (sock, client_id)
        return client_id

    def wake(self, within: float) -> None:
        """End every blocking wait now and refuse new ones (the worker is stopping).

        Repeats the UNBLOCK for a connection until its BLMOVE has returned,
        for at most ``within`` seconds (one block timeout: then it ends anyway).
        """
        with self._lock:
            self._woken = True
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                blocked = list(self._blocked.values())
            if not blocked:
                return
            try:
                for client_id in blocked:
                    self.client.client_unblock(client_id)
            except redis.RedisError as exc:
                log.debug("cannot unblock, waiting out the block timeout: %s", exc)
                return
            time.sleep(RETRY_UNBLOCK)
