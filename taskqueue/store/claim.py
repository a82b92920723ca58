"""Claiming: moving messages into a consumer's in-flight list, and back.

The claim script (lua/claim.lua with its parts) is one atomic call per
claim; ``claim_then_settle`` sends the last batch's settles behind it in the
same write. ``block`` waits for one message, ``requeue`` hands unstarted
ones back, ``mark_running`` shows a later task of a batch as started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from taskqueue.protocol import WAKE
from taskqueue.store.errors import translate_errors
from taskqueue.store.settlement import Settlement, Settling
from taskqueue.store.wire import Client, SettleReplies


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
    control: str = ""  # 'P' paused, 'C' cancels in flight (lua/claim_control.lua)


class Claiming(Settling):
    """The claim script, BLMOVE, the hand-back and the RUNNING mark."""

    def __init__(self, client: Client, *, url: str, prefix: str = "") -> None:
        super().__init__(client, url=url, prefix=prefix)
        self._claim_numbers: dict[tuple[str, str], int] = {}

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
        if self.replicated is not None:  # NotReplicated: the next claim resets
            return _claim_result(self.replicated.script("claim", keys, args))
        return _claim_result(self.scripts.run("claim", keys, args))

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
        if self.wire.plain is None:
            return self.claim(queue, consumer, policy, number=number), self._settle_now(
                consumer, settles, ttl
            )
        commands = [self.scripts.evalsha("claim", keys, args)]
        durability = None if self.replicated is None else self.replicated.durability
        if durability is not None:  # WAIT behind the claim, and behind the settles
            commands.append(durability.command())
        commands += [
            self.scripts.evalsha(
                "settle", *self._settle_call(name, consumer, items, ttl=ttl)
            )
            for name, items in settles.items()
        ]
        if durability is not None:
            commands.append(durability.command())
        try:
            first, replies = self.wire.send_ahead(
                commands, head=1 if durability is None else 2, durability=durability
            )
        except redis.exceptions.NoScriptError:
            return self.claim(queue, consumer, policy, number=number), self._settle_now(
                consumer, settles, ttl
            )
        if durability is not None and durability.short(first[1]):
            replies.discard()  # the caller settles them again (harmless)
            durability.check(first[1], "the claim")  # not run: the next claim resets
        return _claim_result(first[0]), replies

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
            k.redelivered, k.claims, k.paused, k.cancels,
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
        # redis-py annotates the timeout as int; BLMOVE takes seconds as a float.
        seconds = cast(int, timeout)
        raw = self.client.blmove(
            k.pending, k.inflight(consumer), seconds, "LEFT", "RIGHT"
        )
        return cast(bytes | None, raw)

    @translate_errors
    def in_flight(self, queue: str, consumer: str) -> list[bytes]:
        """What a consumer holds in flight on a queue, in claim order."""
        held = self.client.lrange(self.keys(queue).inflight(consumer), 0, -1)
        return cast(list[bytes], held)

    @translate_errors
    def mark_running(
        self, queue: str, consumer: str, *, task_id: str, raw: bytes
    ) -> bool:
        """Show a task as RUNNING (for tasks that start later in a slow batch).

        False, and nothing written, if ``raw`` is no longer in the consumer's
        in-flight list (it was recovered: the task is someone else's now).
        """
        k = self.keys(queue)
        keys = [k.result(task_id), k.inflight(consumer)]
        return bool(self.scripts.call("running", keys, [consumer, raw]))

    @translate_errors
    def requeue(self, queue: str, consumer: str, raws: Sequence[bytes]) -> int:
        """Put unstarted messages back at the head of the queue, in order."""
        if not raws:
            return 0
        k = self.keys(queue)
        keys = [k.inflight(consumer), k.pending]
        return int(self.scripts.call("requeue", keys, [k.result_prefix, *raws]))


def _claim_result(reply: list[Any]) -> ClaimResult:
    """lua/claim_reply.lua's reply: a header, then the messages."""
    header, raws = reply[0], reply[1:]
    counts = header[4] or [0] * len(raws)
    messages = [
        Claimed(raw, int(count)) for raw, count in zip(raws, counts, strict=True)
    ]
    due_in = float(header[1]) if header[1] else None
    return ClaimResult(
        messages=messages, recovered=int(header[0]), due_in=due_in,
        server_time=float(header[2]), control=header[3].decode(),
    )  # fmt: skip
