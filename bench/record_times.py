"""A task's start and finish as its result record tells them (ResultRecord).

The bench reads the records the worker wrote, through the product's one
reader: a first attempt that returned keeps its times in its span, not in
fields of their own (taskqueue/results.py), so raw HGETs of ``started_at``
or ``finished_at`` would miss them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def record_times(
    client: Any, keys: Any, task_ids: Sequence[str]
) -> list[tuple[float | None, float | None]]:
    """(started_at, finished_at) in unix seconds per task id; None where unknown."""
    from taskqueue.results import ResultRecord

    with client.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hgetall(keys.result(task_id))
        raws = pipe.execute()
    out: list[tuple[float | None, float | None]] = []
    for raw in raws:
        record = ResultRecord.parse(raw)
        start, end = record.started_at, record.finished_at
        out.append(
            (start.timestamp() if start else None, end.timestamp() if end else None)
        )
    return out
