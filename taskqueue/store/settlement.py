"""Settling: record each outcome and release its message, atomically per call.

The settle script's arguments are owned here on the Python side
(``Settlement.argv``) and by ``lua/settle_args.lua`` on the Lua side: after
the call's consumer id, result key prefix, result ttl and stride, each
message has one ARGV value per field of ``Settlement``, in the order the
fields are declared (``SETTLE_FIELDS``). Nothing is joined or split: a field
may hold any bytes.

The stride is ``len(SETTLE_FIELDS)``, or ``SHORT_FIELDS`` when no message of
the call is a workflow step or holds a limit: the last three fields are then
left out, so that a feature nobody uses costs no argument per task (each
costs the packer and the script about 0.1 µs). A call of ``plain`` outcomes
only (first attempts that ran and returned: nearly every call) sends the three
``PLAIN_FIELDS`` (four when a message of it records an envelope of its own),
which is all such an outcome has that is not a constant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors
from taskqueue.store.wire import SettleReplies


@dataclass(slots=True)
class Settlement:
    """One outcome for the settle script; its fields are the script's arguments."""

    op: str  # done | retry | dead
    raw: bytes  # the message as claimed
    task_id: str = ""  # '' if it has none: no record is written
    status: str = ""
    # The return JSON (done), the next attempt's message (retry) or the dead
    # entry JSON (dead).
    payload: bytes = b""
    error_field: str = ""  # the record field of error_json ('' if none)
    error_json: bytes = b""
    delay: float = 0.0  # seconds until a retry is due
    dead_id: str = ""  # hex
    attempt: int = 1
    redelivered: bool = False
    # When the task really ran (unix seconds); 0 if it never ran.
    started: float = 0.0
    finished: float = 0.0
    # The envelope to record as the task's message when it is not ``raw``.
    msg: bytes = b""
    # The workflow the task is a step of ('' if none; lua/settle_workflow.lua).
    workflow: str = ""
    # What a limited task holds until it settles (lua/settle_limits.lua): its
    # unique key ({Q}:unique:<digest>) and its concurrency slots hash.
    unique: str = ""
    slot: str = ""

    @property
    def plain(self) -> bool:
        """A first attempt that ran and returned, not redelivered, limited or a
        step: the outcome of nearly every task, sent as PLAIN_FIELDS only."""
        return (
            self.op == "done" and self.status == "SUCCESSFUL" and self.attempt == 1
            and bool(self.started and self.finished and self.payload and self.task_id)
            and not (self.error_field or self.delay or self.dead_id or self.redelivered)
            and not self.wide
        )  # fmt: skip

    def plain_argv(self, consumer: str, *, msg: bool) -> tuple[bytes | str, ...]:
        """The arguments of a ``plain`` outcome: PLAIN_FIELDS, then ``msg`` if asked.

        The record field is the middle of the packed record as it is stored:
        its ``worker:1`` value ("<consumer> <start> <finish>") and its return
        JSON, on two lines (one argument fewer for the script to take in).
        """
        worker = f"{consumer} {self.started:.6f} {self.finished:.6f}\n".encode()
        fields = (self.raw, self.task_id, worker + self.payload)
        return (*fields, self.msg) if msg else fields

    @property
    def wide(self) -> bool:
        """Whether it needs the fields past SHORT_FIELDS (a step, a limit)."""
        return bool(self.workflow or self.unique or self.slot)

    def argv(self, *, wide: bool = True) -> tuple[bytes | str | float, ...]:
        """The script's arguments for this outcome, one per field (SETTLE_FIELDS),
        or the first SHORT_FIELDS of them when not ``wide``.

        Numbers go as they are: the packer writes an int in decimal and a
        float as its repr, which is what the script reads.
        """
        short = (
            self.op, self.raw, self.task_id, self.status, self.payload,
            self.error_field, self.error_json, self.delay, self.dead_id,
            self.attempt, "1" if self.redelivered else "0",
            f"{self.started:.6f}" if self.started else "0",
            f"{self.finished:.6f}" if self.finished else "0",
            self.msg,
        )  # fmt: skip
        return (*short, self.workflow, self.unique, self.slot) if wide else short


# The order of a message's arguments; lua/settle_args.lua reads them in it.
SETTLE_FIELDS = tuple(field.name for field in dataclasses.fields(Settlement))
SHORT_FIELDS = SETTLE_FIELDS.index("workflow")  # the stride when none is wide
# The stride of a call whose outcomes are all ``plain`` (lua/settle_args.lua),
# one more when one of them records an envelope of its own (``msg``).
PLAIN_FIELDS = ("raw", "task_id", "record")


class Settling(StoreCore):
    """The settle script, sent now or behind a claim (see ``Claiming``)."""

    @translate_errors
    def settle(
        self, queue: str, consumer: str, items: Iterable[Settlement], *, ttl: int
    ) -> int:
        """Record each outcome and release its message, atomically per call."""
        keys, argv = self._settle_call(queue, consumer, items, ttl=ttl)
        if self.replicated is not None:  # NotReplicated: the caller settles again
            return int(self.replicated.script("settle", keys, argv))
        return int(self.scripts.run("settle", keys, argv))

    def _settle_call(
        self, queue: str, consumer: str, items: Iterable[Settlement], *, ttl: int
    ) -> tuple[list[str], list[Any]]:
        k = self.keys(queue)
        items = list(items)
        argv: list[Any] = [consumer, k.result_prefix, ttl]
        if all(item.plain for item in items):
            msg = any(item.msg for item in items)
            argv.append(len(PLAIN_FIELDS) + msg)
            for item in items:
                argv.extend(item.plain_argv(consumer, msg=msg))
        else:
            wide = any(item.wide for item in items)
            argv.append(len(SETTLE_FIELDS) if wide else SHORT_FIELDS)
            for item in items:
                argv.extend(item.argv(wide=wide))
        keys = [
            k.inflight(consumer), k.scheduled, k.redelivered, k.dead, k.dead_index,
            k.dead_raw, k.recent, k.ready, k.pending, k.workflow_prefix, k.waiting,
            k.cancels, k.finished_minutes, k.finished_prefix, k.results_index,
        ]  # fmt: skip
        return keys, argv

    def _settle_now(
        self, consumer: str, settles: Mapping[str, Sequence[Settlement]], ttl: int
    ) -> SettleReplies:
        for name, items in settles.items():
            self.settle(name, consumer, items, ttl=ttl)
        return SettleReplies(None, None, 0)
