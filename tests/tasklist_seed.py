"""Seeding the task list's index fast: result hashes and index buckets written
directly, in pipelines (what a settle writes, without running 100,000 tasks).

Task ``i`` is ``seed-<i>`` (zero-padded), finished ``i`` ms after ``BASE``;
its path is ``PATHS[i % 4]`` (``RARE`` for every thousandth, from 999) and
every seventh one FAILED. The hash has the
fields ``ResultRecord`` reads for a row: ``msg`` (the envelope: task, queue),
``status``, the times and ``bucket`` (its finish minute, whose bucket
``{Q}:finished:<minute>`` lists it, in finish order; at 1,000 a second a
minute's bucket holds 60,000). The times are laid out as a settle writes
them: a failed task's as ``started_at`` and ``finished_at``, a successful
one's in its span alone (``worker:1``, lua/settle_plain.lua).
"""

from __future__ import annotations

from typing import Any

import orjson

BASE = 1_780_000_000.0  # 2026-05-28, well inside any test's time
PATHS = (
    "tests.tasks.add",
    "tests.tasks.fail",
    "recipe.tasks.resize",
    "recipe.tasks.crop",
)
RARE = "recipe.rare.audit"
CHUNK = 5_000


def seed_id(i: int) -> str:
    return f"seed-{i:06d}"


def seed_status(i: int) -> str:
    return "FAILED" if i % 7 == 0 else "SUCCESSFUL"


def seed_path(i: int) -> str:
    return RARE if i % 1000 == 999 else PATHS[i % 4]


def finished_at(i: int) -> float:
    return BASE + i / 1000


def minute_of(i: int) -> int:
    return int(finished_at(i) // 60)


def times(i: int) -> dict[str, str]:
    start, end = repr(finished_at(i) - 0.25), repr(finished_at(i))
    if seed_status(i) == "FAILED":
        return {"started_at": start, "finished_at": end, "worker:1": "w"}
    return {"worker:1": f"w {start} {end}"}


def seed(broker: Any, start: int, stop: int, queue: str = "default") -> None:
    """Tasks ``start`` .. ``stop - 1`` of ``queue``, as settled ones."""
    k = broker.keys(queue)
    for low in range(start, stop, CHUNK):
        high = min(low + CHUNK, stop)
        with broker.client.pipeline(transaction=False) as pipe:
            for i in range(low, high):
                envelope = {"v": 1, "id": seed_id(i), "task": seed_path(i), "queue": queue,
                            "args": [i], "kwargs": {}}  # fmt: skip
                pipe.hset(k.result(seed_id(i)), mapping={
                    "msg": orjson.dumps(envelope), "status": seed_status(i),
                    "bucket": minute_of(i), **times(i),
                })  # fmt: skip
            buckets: dict[int, list[str]] = {}
            for i in range(low, high):
                buckets.setdefault(minute_of(i), []).append(seed_id(i))
            for minute, ids in buckets.items():
                pipe.rpush(k.finished_prefix + str(minute), *ids)
                pipe.zadd(k.finished_minutes, {str(minute): minute})
            pipe.execute()
