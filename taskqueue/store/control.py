"""Control: cancelling tasks and pausing queues, as Redis holds them.

A cancel is one script (lua/cancel.lua): a task still in its queue is taken
out and recorded FAILED at once; one a worker has claimed is put in the
queue's cancel hash and announced on the cancel channel, for the worker
holding it. A paused queue is one key, ``{Q}:paused``, that the claim reads
in its own slot (lua/claim_control.lua). See docs/cancel.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, cast

import redis

from taskqueue.exceptions import BrokerUnavailable
from taskqueue.keys import cancel_channel
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

Cancels = dict[str, dict[str, str]]  # queue -> task id -> 'stop' | 'terminate'


class Control(StoreCore):
    """The cancel script, the cancel hashes and the paused flags."""

    @translate_errors
    def cancel(
        self, queue: str, task_id: str, *, mode: str, ttl: int, error: bytes
    ) -> str:
        """Cancel a task of ``queue``: 'unknown', 'finished', 'cancelled' or 'flagged'.

        ('cancelled': taken out of its queue, FAILED now; 'flagged': claimed
        by a worker, which will not start it or will ask it to stop.)
        """
        k = self.keys(queue)
        keys = [
            k.pending, k.prio, k.scheduled, k.ready, k.result(task_id), k.cancels,
            k.recent, k.finished_minutes, k.finished_prefix, k.results_index,
        ]  # fmt: skip
        args = [task_id, ttl, error, mode, cancel_channel(self.prefix), k.unique_prefix]
        reply = self.scripts.call("cancel", keys, args)
        state = reply.decode() if isinstance(reply, bytes) else str(reply)
        return state.lower()

    @translate_errors
    def cancels(self, queues: Sequence[str]) -> Cancels:
        """The cancelled tasks still in flight on each queue (one round trip)."""
        with self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.hgetall(self.keys(queue).cancels)
            rows = cast(list[dict[bytes, bytes]], pipe.execute())
        return {
            queue: {key.decode(): value.decode() for key, value in row.items()}
            for queue, row in zip(queues, rows, strict=True)
        }

    @translate_errors
    def set_paused(self, queue: str, paused: bool) -> bool:
        """Pause or resume a queue; True if that changed anything."""
        key = self.keys(queue).paused
        if paused:
            return bool(self.client.set(key, "1", nx=True))
        return bool(self.client.delete(key))

    @translate_errors
    def paused(self, queue: str) -> bool:
        return bool(self.client.exists(self.keys(queue).paused))

    def subscribe_cancels(self) -> CancelFeed:
        """A subscription to the cancel channel (see ``CancelFeed``)."""
        return CancelFeed(self)


class CancelFeed:
    """The cancel channel, read by a worker's cancel watch (worker/cancels.py).

    A subscription sends no command while nothing is cancelled: an idle
    worker pays only an open connection. ``next`` raises BrokerUnavailable
    when the connection drops; the caller subscribes again after a pause.
    """

    def __init__(self, store: StoreCore) -> None:
        self._pubsub: Any = store.client.pubsub(  # type: ignore[no-untyped-call]
            ignore_subscribe_messages=True
        )
        self._channel = cancel_channel(store.prefix)
        self._subscribed = False

    def subscribe(self) -> None:
        """Subscribe now (``next`` does it too, after a cut); BrokerUnavailable if down."""
        try:
            self._subscribe()
        except redis.RedisError as exc:
            self.close()
            raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc

    def _subscribe(self) -> None:
        if not self._subscribed:
            self._pubsub.subscribe(self._channel)
            self._subscribed = True

    def next(self, timeout: float) -> str | None:
        """The next cancelled task id announced within timeout, or None."""
        try:
            self._subscribe()
            message = self._pubsub.get_message(timeout=timeout)
        except redis.RedisError as exc:  # a cut, or a server that refuses pub/sub
            self.close()
            raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc
        if message is None or message.get("type") != "message":
            return None
        data = message.get("data")
        return data.decode(errors="replace") if isinstance(data, bytes) else None

    def close(self) -> None:
        self._subscribed = False
        with contextlib.suppress(redis.RedisError):
            self._pubsub.reset()
