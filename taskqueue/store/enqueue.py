"""Enqueuing: messages in, with their READY entries.

A task's READY state is its entry in the queue's ``ready`` hash (id ->
message) until a worker settles it: one HSET for a whole batch, where a
result hash per task would cost two commands each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from taskqueue.exceptions import NotDurable, NotReplicated
from taskqueue.keys import QueueKeys
from taskqueue.protocol import WAKE
from taskqueue.store.core import StoreCore
from taskqueue.store.durability import ReplicatedWrites
from taskqueue.store.errors import translate_errors
from taskqueue.store.wire import Command

CHUNK = 10_000  # messages per HSET/RPUSH of a plain bulk enqueue


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


class Enqueuing(StoreCore):
    """Producers' side of a queue."""

    @translate_errors
    def enqueue(self, queue: str, batch: Outgoing) -> None:
        """Push messages with their READY entries.

        Plain messages go out as HSET + RPUSH in one write (``Wire.send``),
        inside MULTI/EXEC: a send cut off midway (a killed process, a
        dropped connection) leaves nothing, not a READY entry whose message
        never arrived. Priorities and delays need the script.
        """
        k = self.keys(queue)
        if self.replicated is not None:
            self._enqueue_replicated(self.replicated, k, batch)
        elif self.wire.plain is not None and batch.priority == 0 and batch.delay <= 0:
            _raise_in(self.wire.send(*_plain_commands(k, batch))[-1])
        else:
            self.scripts.call("enqueue", _script_keys(k), _script_argv(batch))

    def _enqueue_replicated(
        self, replicated: ReplicatedWrites, k: QueueKeys, batch: Outgoing
    ) -> None:
        """The same writes, each followed by WAIT; NotDurable if too few replicas.

        The messages are on the primary either way: the caller is told which
        ids may or may not survive a failover (see NotDurable).
        """
        try:
            if self.wire.plain is not None and batch.priority == 0 and batch.delay <= 0:
                replies = replicated.send(
                    k.pending, _plain_commands(k, batch), "the enqueue"
                )
                _raise_in(replies[-1])
            else:
                replicated.script("enqueue", _script_keys(k), _script_argv(batch))
        except NotReplicated as exc:
            raise NotDurable(
                f"enqueued on the primary, not proven replicated ({exc}); the "
                "tasks may exist: check get_result(id) before enqueuing them again",
                task_ids=tuple(batch.ids), acknowledged=exc.acknowledged,
                wanted=exc.wanted,
            ) from exc  # fmt: skip

    @translate_errors
    def push_raw(self, queue: str, raw: bytes) -> None:
        """RPUSH bytes as they are (tests, benchmarks and old producers do this)."""
        self.client.rpush(self.keys(queue).pending, raw)


def _plain_commands(k: QueueKeys, batch: Outgoing) -> list[Command]:
    """HSET + RPUSH per chunk, in one MULTI/EXEC: the server runs none of them
    until EXEC arrives, so a write cut off midway leaves no READY entry
    behind (measured: no cost, the transaction rides in the same write)."""
    ids, raws = batch.ids, batch.raws
    commands: list[Command] = [("MULTI",)]
    for start in range(0, len(ids), CHUNK):
        chunk = raws[start : start + CHUNK]
        pairs: list[Any] = [None] * (2 * len(chunk))
        pairs[::2], pairs[1::2] = ids[start : start + CHUNK], chunk
        commands.append(("HSET", k.ready, *pairs))
        commands.append(("RPUSH", k.pending, *chunk))
    commands.append(("EXEC",))
    return commands


def _raise_in(executed: Any) -> None:
    """EXEC answers a command's error inside its reply: raise the first one
    (a key of the wrong type), as the command alone would have."""
    for reply in executed or ():
        if isinstance(reply, redis.ResponseError):
            raise reply


def _script_keys(k: QueueKeys) -> list[str]:
    return [k.pending, k.prio, k.scheduled, k.ready]


def _script_argv(batch: Outgoing) -> list[Any]:
    argv: list[Any] = [WAKE]
    for task_id, raw in zip(batch.ids, batch.raws, strict=True):
        argv += (task_id, batch.priority, batch.delay, raw)
    return argv
