"""Broker: the only code that sends queue commands to Redis.

Every operation that changes more than one key is one Lua script (see lua/),
and every key a script touches carries the queue's hash tag. Connection
errors leave this module as BrokerUnavailable; nothing above imports redis.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ParamSpec, TypeVar

import hiredis
import redis

from taskqueue.connection import make_client, mask_url, resolve_url
from taskqueue.exceptions import BrokerError, BrokerUnavailable
from taskqueue.keys import QueueKeys, stats_key, totals_key, workers_key
from taskqueue.protocol import WAKE

P = ParamSpec("P")
R = TypeVar("R")

CHUNK = 10_000  # messages per HSET/RPUSH of a plain bulk enqueue

SCRIPTS = (
    "enqueue", "claim", "settle", "requeue", "dead", "heartbeat", "running",
)  # fmt: skip


# Errors after which nothing ran, or whose reply was lost: back off and retry.
# Cluster errors (CLUSTERDOWN, TRYAGAIN, slot moves) are refused before a
# script runs, so they are as safe to retry as a dropped connection.
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.RedisClusterException,
)


# Error replies of a server that refuses to work for now, before the command
# (or a script's first write) changes anything: out of memory, a replica, a
# failing disk, a long script, loading, no primary. An outage, like a cut.
# Inside a script the code follows the script's name: matched as a word.
REFUSED = re.compile(
    r"\b(?:OOM|READONLY|MISCONF|BUSY|LOADING|MASTERDOWN|NOREPLICAS|CLUSTERDOWN|TRYAGAIN) "
)


def translate_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every redis error into a taskqueue error at the boundary.

    Connection trouble and refusals become BrokerUnavailable (back off and
    retry); any other error reply (a key of the wrong type, a script error)
    becomes BrokerError, so nothing above this module sees redis's classes.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except UNAVAILABLE as exc:
            raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc
        except redis.RedisError as exc:
            if REFUSED.search(str(exc)[:300]) or isinstance(exc, refused_classes()):
                raise BrokerUnavailable(f"Redis refused the command: {exc}") from exc
            raise BrokerError(f"Redis error: {exc}") from exc

    return wrapper


@functools.cache
def refused_classes() -> tuple[type[Exception], ...]:
    """redis-py's own classes for the refusals (it strips the error code)."""
    names = ("OutOfMemoryError", "ReadOnlyError", "BusyLoadingError")
    return tuple(
        getattr(redis.exceptions, name)
        for name in names
        if hasattr(redis.exceptions, name)
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message this consumer holds in its in-flight list."""

    raw: bytes
    redeliveries: int


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    """How a consumer claims: batch size, when others count as dead, result ttl."""

    max_batch: int
    worker_timeout: float
    result_ttl: int
    min_batch: int = 1
    max_message_bytes: int = 1024 * 1024  # larger messages are not wrapped


@dataclass(frozen=True, slots=True)
class ClaimResult:
    messages: list[Claimed]
    recovered: int
    due_in: float | None
    server_time: float = 0.0  # the Redis clock when the claim ran


@dataclass(slots=True)
class Settlement:
    """One outcome for the settle script (see lua/settle.lua for the fields)."""

    op: str
    raw: bytes
    task_id: str = ""
    status: str = ""
    payload: bytes = b""
    error_field: str = ""
    error_json: bytes = b""
    delay: float = 0.0
    dead_id: str = ""
    attempt: int = 1
    redelivered: bool = False
    # When the task really ran (unix seconds); 0 if it never ran.
    started: float = 0.0
    finished: float = 0.0
    # The envelope to record as the task's message when it is not ``raw``.
    msg: bytes = b""

    def argv(self) -> tuple[bytes, bytes, bytes, bytes]:
        """raw, meta, payload, error JSON: four arguments (see lua/settle.lua)."""
        meta = "|".join(
            (
                self.op, self.task_id, self.status, self.error_field,
                repr(self.delay), self.dead_id, str(self.attempt),
                "1" if self.redelivered else "0",
                f"{self.started:.6f}" if self.started else "0",
                f"{self.finished:.6f}" if self.finished else "0",
                "",
            )
        ).encode()  # fmt: skip
        return self.raw, meta + self.msg, self.payload, self.error_json


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    pending: int
    in_flight: int
    scheduled: int
    dead: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pending": self.pending,
            "in_flight": self.in_flight,
            "scheduled": self.scheduled,
            "dead": self.dead,
        }


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The messages of one enqueue: one task's calls, so one priority and delay.

    Ids and messages in two lists, not a tuple per message: a bulk enqueue
    hands them to HSET and RPUSH as they are.
    """

    ids: list[str]
    raws: list[bytes]
    priority: int = 0
    delay: float = 0.0  # seconds from now; 0 = at once

    def __len__(self) -> int:
        return len(self.ids)


class Broker:
    """Queue operations over one Redis (or Redis Cluster) connection."""

    def __init__(self, client: Any, *, url: str, prefix: str = "") -> None:
        self.client = client
        self.url = url
        self.prefix = prefix
        self._scripts = {name: client.register_script(_lua(name)) for name in SCRIPTS}
        self._keys: dict[str, QueueKeys] = {}
        self._plain = isinstance(client, redis.Redis)  # not a cluster client
        self._held = _HeldConnection()
        self._claim_numbers: dict[tuple[str, str], int] = {}

    @classmethod
    def connect(
        cls, url: str | None, *, embedded_dir: str | None = None, prefix: str = ""
    ) -> Broker:
        """A broker with its own client; starts the embedded server when needed."""
        resolved = resolve_url(url, embedded_dir)
        client = make_client(resolved, socket_timeout=30, socket_connect_timeout=5)
        return cls(client, url=resolved, prefix=prefix)

    @property
    def safe_url(self) -> str:
        return mask_url(self.url)

    def keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys.for_queue(queue, self.prefix)
        return keys

    @translate_errors
    def ping(self) -> bool:
        return bool(self.client.ping())

    @translate_errors
    def enqueue(self, queue: str, batch: Outgoing) -> None:
        """Push messages with their READY entries.

        A task's READY state is its entry in the queue's ``ready`` hash (id ->
        message) until a worker settles it: one HSET for a whole batch, where a
        result hash per task would cost two commands each. Plain messages go
        out as HSET + RPUSH in one write; priorities and delays need the script.
        """
        k = self.keys(queue)
        ids, raws = batch.ids, batch.raws
        if self._plain and batch.priority == 0 and batch.delay <= 0:
            commands: list[tuple[Any, ...]] = []
            for start in range(0, len(ids), CHUNK):
                chunk = raws[start : start + CHUNK]
                pairs: list[Any] = [None] * (2 * len(chunk))
                pairs[::2], pairs[1::2] = ids[start : start + CHUNK], chunk
                commands.append(("HSET", k.ready, *pairs))
                commands.append(("RPUSH", k.pending, *chunk))
            self._send(*commands)
            return
        argv: list[Any] = [WAKE]
        for task_id, raw in zip(ids, raws, strict=True):
            argv += (task_id, batch.priority, batch.delay, raw)
        self._scripts["enqueue"](
            keys=[k.pending, k.prio, k.scheduled, k.ready], args=argv
        )

    def _send(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send commands in one write and read their replies (no MULTI, no Lua).

        For a plain enqueue: the READY entries go first and the messages
        last, so an interrupted send can leave a READY entry without its
        message, never a message without one. Cheaper than a pipeline object
        or redis-py's command layer (packing alone cost a worker 15% of its
        time there), which is what makes a single enqueue cost about one
        RPUSH. Every reply is read before an error reply is raised, so the
        connection stays in step.
        """
        connection = self._connection()
        replies: list[Any] = []
        error: redis.ResponseError | None = None
        try:
            connection.send_packed_command(_pack(commands))
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

    def _connection(self) -> Any:
        """This thread's connection for ``_send``, checked like the pool checks one.

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
            connection = self.client.connection_pool.get_connection()
            held.connection, held.pid = connection, os.getpid()
            return connection
        try:
            if connection.can_read():
                raise redis.ConnectionError("unexpected data on an idle connection")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
            connection.connect()
        return connection

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a Lua script by its SHA; redis-py loads it when the server lacks it."""
        script = self._scripts[name]
        if self._plain:
            try:
                return self._send(("EVALSHA", script.sha, len(keys), *keys, *args))[0]
            except redis.exceptions.NoScriptError:
                self.load_scripts()  # a new or restarted server lacks them all
        return script(keys=keys, args=args)

    @translate_errors
    def load_scripts(self) -> None:
        """Load every script now, so that none is missing behind a claim.

        A settle sent behind a claim (pipelined) that finds its script
        missing is written again only at the next confirm; loading them
        all whenever one is missing (and at worker start) avoids that.
        """
        for name in SCRIPTS:
            self.client.script_load(_lua(name))

    @translate_errors
    def claim(
        self,
        queue: str,
        consumer: str,
        policy: ClaimPolicy,
        *,
        moved: bytes | None = None,
        reset: bool = False,
        number: int = 0,
    ) -> ClaimResult:
        """Atomically move up to max_batch messages into this consumer's in-flight list.

        ``moved`` is a message BLMOVE already put there (None: none);
        ``number`` is given only to send again a claim that did not run.
        """
        keys, args = self._claim_call(
            queue, consumer, policy, moved=moved, reset=reset, number=number
        )
        return _claim_result(self._run("claim", keys, args))

    @translate_errors
    def claim_then_settle(
        self,
        queue: str,
        consumer: str,
        policy: ClaimPolicy,
        *,
        settles: Mapping[str, Sequence[Settlement]],
        ttl: int,
    ) -> tuple[ClaimResult, SettleReplies]:
        """Claim the next batch, then send the last batch's settles without waiting.

        Both go out in one write on one connection, the claim first, so its
        reply comes back at once and Redis runs the settles while the worker
        runs the new batch (pipelined settling: the scripts' time no longer
        adds to the worker's). ``SettleReplies.wait()`` reads their replies;
        until then the outcomes count as unconfirmed. A cluster client, or a
        server that lost its scripts, gets the plain calls one by one.
        """
        keys, args = self._claim_call(queue, consumer, policy, moved=None, reset=False)
        number = args[-1]
        calls = [("claim", keys, args)]
        calls += [
            ("settle", *self._settle_call(name, consumer, items, ttl=ttl))
            for name, items in settles.items()
        ]
        if not self._plain:
            return self.claim(queue, consumer, policy, number=number), self._settle_now(
                consumer, settles, ttl
            )
        commands = [
            ("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)
            for name, keys, args in calls
        ]
        pool = self.client.connection_pool
        connection = pool.get_connection()
        replies = SettleReplies(pool, connection, len(commands) - 1)
        try:
            connection.send_packed_command(_pack(commands))
            reply = connection.read_response()
        except redis.exceptions.NoScriptError:
            replies.discard()
            return self.claim(queue, consumer, policy, number=number), self._settle_now(
                consumer, settles, ttl
            )
        except BaseException:
            replies.abandon()
            raise
        return _claim_result(reply), replies

    def _settle_now(
        self, consumer: str, settles: Mapping[str, Sequence[Settlement]], ttl: int
    ) -> SettleReplies:
        for name, items in settles.items():
            self.settle(name, consumer, items, ttl=ttl)
        return SettleReplies(None, None, 0)

    def _claim_call(
        self,
        queue: str,
        consumer: str,
        policy: ClaimPolicy,
        *,
        moved: bytes | None,
        reset: bool,
        number: int = 0,
    ) -> tuple[list[str], list[Any]]:
        k = self.keys(queue)
        keys = [
            k.pending, k.prio, k.scheduled, k.inflight(consumer), k.consumers,
            k.redelivered, k.claims,
        ]  # fmt: skip
        args = [
            consumer, policy.max_batch, k.result_prefix, policy.worker_timeout,
            k.tag + ":inflight:", WAKE, b"" if moved is None else b"+" + moved,
            int(reset), policy.result_ttl, policy.min_batch, os.urandom(8).hex(),
            policy.max_message_bytes,
            number or self._claim_number(queue, consumer),
        ]  # fmt: skip
        return keys, args

    def _claim_number(self, queue: str, consumer: str) -> int:
        """The next number of a consumer's claims on a queue (ARGV[13] of claim.lua).

        A claim that is sent again because the first did not run (NOSCRIPT)
        keeps its number, so that only a real rollback leaves a gap.
        """
        key = (queue, consumer)
        number = self._claim_numbers.get(key, 0) + 1
        self._claim_numbers[key] = number
        return number

    @translate_errors
    def block(self, queue: str, consumer: str, timeout: float) -> bytes | None:
        """Wait up to timeout for one message, moving it into in-flight (BLMOVE)."""
        k = self.keys(queue)
        raw: bytes | None = self.client.blmove(
            k.pending, k.inflight(consumer), timeout, "LEFT", "RIGHT"
        )
        return raw

    @translate_errors
    def mark_running(
        self, queue: str, consumer: str, *, task_id: str, raw: bytes
    ) -> bool:
        """Show a task as RUNNING (for tasks that start later in a slow batch).

        False, and nothing written, if ``raw`` is no longer in the consumer's
        in-flight list (it was recovered: the task is someone else's now).
        """
        k = self.keys(queue)
        return bool(
            self._scripts["running"](
                keys=[k.result(task_id), k.inflight(consumer)], args=[consumer, raw]
            )
        )

    @translate_errors
    def settle(
        self, queue: str, consumer: str, items: Iterable[Settlement], *, ttl: int
    ) -> int:
        """Record each outcome and release its message, atomically per call."""
        keys, argv = self._settle_call(queue, consumer, items, ttl=ttl)
        return int(self._run("settle", keys, argv))

    def _settle_call(
        self, queue: str, consumer: str, items: Iterable[Settlement], *, ttl: int
    ) -> tuple[list[str], list[Any]]:
        k = self.keys(queue)
        argv: list[Any] = [consumer, k.result_prefix, ttl]
        for item in items:
            argv.extend(item.argv())
        keys = [
            k.inflight(consumer), k.scheduled, k.redelivered, k.dead, k.dead_index,
            k.dead_raw, k.recent, k.ready,
        ]  # fmt: skip
        return keys, argv

    @translate_errors
    def requeue(self, queue: str, consumer: str, raws: Sequence[bytes]) -> int:
        """Put unstarted messages back at the head of the queue, in order."""
        if not raws:
            return 0
        k = self.keys(queue)
        return int(
            self._scripts["requeue"](
                keys=[k.inflight(consumer), k.pending], args=[k.result_prefix, *raws]
            )
        )

    @translate_errors
    def heartbeat(self, queues: Iterable[str], consumer: str) -> None:
        """Mark the consumer alive in each queue, on the server's clock."""
        for queue in queues:
            self._scripts["heartbeat"](
                keys=[self.keys(queue).consumers], args=[consumer]
            )

    @translate_errors
    def in_flight(self, queue: str, consumer: str) -> list[bytes]:
        """What a consumer holds in flight on a queue, in claim order."""
        held: list[bytes] = self.client.lrange(
            self.keys(queue).inflight(consumer), 0, -1
        )
        return held

    @translate_errors
    def deregister(self, queues: Iterable[str], consumer: str) -> None:
        """Forget a consumer that has handed back everything it held."""
        for queue in queues:
            k = self.keys(queue)
            if not self.client.llen(k.inflight(consumer)):
                self.client.zrem(k.consumers, consumer)
                self.client.hdel(k.claims, consumer)

    @translate_errors
    def result_record(
        self, task_id: str, queues: Iterable[str]
    ) -> dict[bytes, bytes] | None:
        """The raw result hash of a task, looked up in each queue's slot.

        A queued task not yet settled has its message in the ``ready`` hash
        and, once a worker started it, a record without ``msg``: merged, that
        is the same record a settled task has.
        """
        for queue in queues:
            k = self.keys(queue)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.result(task_id))
                pipe.hget(k.ready, task_id)
                record, ready = pipe.execute()
            if ready is not None and b"msg" not in record:
                return {b"status": b"READY", **record, b"msg": ready}
            if record:
                return dict(record)
        return None

    @translate_errors
    def stats(self, queue: str) -> QueueStats:
        k = self.keys(queue)
        consumers = self.client.zrange(k.consumers, 0, -1)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(k.pending)
            pipe.zcard(k.prio)
            pipe.zcard(k.scheduled)
            pipe.zcard(k.dead_index)
            pipe.lrange(k.pending, 0, 0)
            for consumer in consumers:
                pipe.llen(k.inflight(consumer.decode()))
            pending, prio, scheduled, dead, head, *inflight = pipe.execute()
        if head == [WAKE]:
            pending -= 1
        return QueueStats(queue, pending + prio, sum(inflight), scheduled, dead)

    @translate_errors
    def recent_results(
        self, queue: str, limit: int = 50
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        """The latest settled tasks of a queue, newest first, with their records."""
        k = self.keys(queue)
        ids = [i.decode() for i in self.client.lrange(k.recent, 0, limit - 1)]
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(k.result(task_id))
            records = pipe.execute()
        return [(i, r) for i, r in zip(ids, records, strict=True) if r]

    @translate_errors
    def dead_letters(
        self, queue: str, limit: int = 100
    ) -> list[tuple[str, bytes, bytes]]:
        """Newest first: (dead-letter id, entry JSON, raw message)."""
        k = self.keys(queue)
        ids = [i.decode() for i in self.client.zrevrange(k.dead_index, 0, limit - 1)]
        if not ids:
            return []
        entries = self.client.hmget(k.dead, ids)
        raws = self.client.hmget(k.dead_raw, ids)
        return [
            (i, e, r)
            for i, e, r in zip(ids, entries, raws, strict=True)
            if e is not None
        ]

    @translate_errors
    def dead_letter_ids(self, queue: str) -> list[str]:
        return [
            i.decode() for i in self.client.zrange(self.keys(queue).dead_index, 0, -1)
        ]

    @translate_errors
    def dead_action(self, queue: str, action: str, ids: Sequence[str]) -> int:
        """Requeue (delivery count reset) or delete dead letters; returns how many."""
        if not ids:
            return 0
        k = self.keys(queue)
        keys = [k.pending, k.dead, k.dead_index, k.dead_raw, k.redelivered]
        return int(self._scripts["dead"](keys=keys, args=[action, *ids]))

    @translate_errors
    def push_raw(self, queue: str, raw: bytes) -> None:
        """RPUSH bytes as they are (tests, benchmarks and old producers do this)."""
        self.client.rpush(self.keys(queue).pending, raw)

    @translate_errors
    def set_worker(self, name: str, info: bytes | None) -> None:
        if info is None:
            self.client.hdel(workers_key(self.prefix), name)
        else:
            self.client.hset(workers_key(self.prefix), name, info)

    @translate_errors
    def workers(self) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = self.client.hgetall(workers_key(self.prefix))
        return {k.decode(): v for k, v in raw.items()}

    @translate_errors
    def count_minute(self, minute: int, counts: dict[str, int]) -> None:
        key = stats_key(minute, self.prefix)
        with self.client.pipeline(transaction=False) as pipe:
            for field, n in counts.items():
                pipe.hincrby(key, field, n)
            pipe.expire(key, 2 * 3600)
            pipe.execute()

    @translate_errors
    def minute_counts(self, minutes: Sequence[int]) -> list[dict[str, int]]:
        with self.client.pipeline(transaction=False) as pipe:
            for minute in minutes:
                pipe.hgetall(stats_key(minute, self.prefix))
            rows = pipe.execute()
        return [{k.decode(): int(v) for k, v in row.items()} for row in rows]

    @translate_errors
    def add_task_totals(self, counts: dict[str, int]) -> None:
        """Add to the fleet-wide task counts (metrics.FleetCollector reads them)."""
        with self.client.pipeline(transaction=False) as pipe:
            for field, n in counts.items():
                pipe.hincrby(totals_key(self.prefix), field, n)
            pipe.execute()

    @translate_errors
    def task_totals(self) -> dict[str, int]:
        raw: dict[bytes, bytes] = self.client.hgetall(totals_key(self.prefix))
        return {k.decode(): int(v) for k, v in raw.items()}

    def close(self) -> None:
        self.client.close()


class _HeldConnection(threading.local):
    """The connection a thread keeps for ``Broker._send`` (see ``_connection``)."""

    def __init__(self) -> None:
        self.connection: Any = None
        self.pid = 0


class SettleReplies:
    """Replies to settle scripts that were sent ahead, on a connection held for them."""

    def __init__(self, pool: Any, connection: Any, count: int) -> None:
        self.pool, self.connection, self.count = pool, connection, count

    @translate_errors
    def wait(self) -> bool:
        """Read the replies. True: the outcomes are stored; False: the server had
        lost the script (a restart), so the caller must settle again (which
        loads it). BrokerUnavailable if the connection failed."""
        if self.connection is None:
            return True
        error: redis.ResponseError | None = None
        missing = False
        try:
            for _ in range(self.count):
                try:
                    self.connection.read_response()
                except redis.exceptions.NoScriptError:
                    missing = True
                except redis.ResponseError as exc:
                    error = error or exc
        except BaseException:
            self.abandon()
            raise
        self._release()
        if error is not None:
            raise error
        return not missing

    def discard(self) -> None:
        """Read and drop the replies (the caller settles again itself)."""
        with contextlib.suppress(redis.ResponseError):
            self.wait()

    def abandon(self) -> None:
        """Drop the connection: its replies can no longer be matched to commands."""
        if self.connection is not None:
            self.connection.disconnect()
            self._release()

    def _release(self) -> None:
        self.pool.release(self.connection)
        self.connection = None


def _claim_result(reply: list[Any]) -> ClaimResult:
    messages = [Claimed(reply[i], int(reply[i + 1])) for i in range(3, len(reply), 2)]
    due_in = float(reply[1]) if reply[1] else None
    return ClaimResult(
        messages=messages, recovered=int(reply[0]), due_in=due_in,
        server_time=float(reply[2]),
    )  # fmt: skip


def _pack(commands: Sequence[tuple[Any, ...]]) -> list[bytes]:
    """The commands in the Redis protocol, by hiredis (a dependency of ours)."""
    return [b"".join([hiredis.pack_command(command) for command in commands])]


@functools.cache
def _lua(name: str) -> str:
    return resources.files("taskqueue").joinpath(f"lua/{name}.lua").read_text()
