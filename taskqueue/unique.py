"""Unique tasks: one queued, scheduled or running task per key.

A task with ``unique_for`` gets a key per call: ``unique_key(args, kwargs)``
when it has one, else the canonical JSON of its arguments (sorted keys);
either way hashed with the task's path into a 40-digit digest, which rides
in the message (the envelope's ``unique`` field) so that the settle can
release it without calling user code again. ``enqueue()`` of a call whose
key is held returns the holder's TaskResult instead of queuing another.

A unique enqueue goes to Redis at once, even inside a transaction with
``ENQUEUE_ON_COMMIT``: which task the caller gets back is decided by Redis,
so it cannot wait for the commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from taskqueue.broker import Broker, Outgoing
from taskqueue.compat import TaskResult, TaskResultDoesNotExist
from taskqueue.protocol import with_unique
from taskqueue.taskoptions import TaskLimits

Call = tuple[list[Any], dict[str, Any]]


def digest(limits: TaskLimits, args: list[Any], kwargs: dict[str, Any]) -> str:
    """The call's key digest; TypeError if a unique_key does not return a str."""
    if limits.unique_key is not None:
        key = limits.unique_key(args, kwargs)
        if not isinstance(key, str):
            raise TypeError(
                f"unique_key of {limits.path} returned {type(key).__name__}, not str"
            )
    else:
        key = orjson.dumps([args, kwargs], option=orjson.OPT_SORT_KEYS).decode()
    text = limits.path + "\0" + key
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def enqueue(
    broker: Broker, queue: str, batch: Outgoing, *,
    limits: TaskLimits, calls: Sequence[Call],
) -> list[str]:  # fmt: skip
    """Push the calls whose keys are free; per call, the id holding its key."""
    digests = [digest(limits, args, kwargs) for args, kwargs in calls]
    raws = [with_unique(raw, d) for raw, d in zip(batch.raws, digests, strict=True)]
    marked = Outgoing(batch.ids, raws, batch.priority, batch.delay)
    return broker.enqueue_unique(
        queue, marked, digests, hold=float(limits.unique_for or 0)
    )


def results(
    own: Sequence[TaskResult[Any]],
    holders: list[str],
    lookup: Callable[[str], TaskResult[Any]],
) -> list[TaskResult[Any]]:
    """Each call's TaskResult: its own when it was queued, else its holder's.

    A holder whose result cannot be read (it finished and expired between
    the script and this read) is shown as the caller's own READY result
    with the holder's id, which the caller can poll.
    """
    out = []
    for result, holder in zip(own, holders, strict=True):
        if holder == result.id:
            out.append(result)
            continue
        try:
            out.append(lookup(holder))
        except TaskResultDoesNotExist:
            object.__setattr__(result, "id", holder)
            out.append(result)
    return out
