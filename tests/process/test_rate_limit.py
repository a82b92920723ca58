"""issue 17, test 3: a fleet-wide rate limit, over three worker processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taskqueue.backends import enqueue_many
from taskqueue.results import ResultRecord
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

LIMITED = 300  # at 20/s: 15 s


def starts(path: Path, name: str) -> list[float]:
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted(float(t) for n, t in (line.split() for line in lines) if n == name)


def most_in_one_second(times: list[float]) -> int:
    """The most starts in any window [t, t + 1 s) that opens at a start."""
    most, low = 0, 0
    for high, t in enumerate(times):
        while times[low] <= t - 1.0:
            low += 1
        most = max(most, high - low + 1)
    return most


def start_of(broker, task_id: str) -> float:
    """The task's one attempt's start, as its result record holds it."""
    found = broker.result_record(task_id, ["default"])
    assert found is not None, task_id
    record = ResultRecord.parse(*found)
    (start, _finish), *more = record.spans
    assert start is not None, found
    assert not more, found
    return start.timestamp()


def test_three_workers_start_at_most_twenty_a_second_and_others_pass(
    start_worker, broker, tmp_path
):
    stamps = tmp_path / "stamps"
    queued = enqueue_many(tasks.rate_limited, [((i,), {}) for i in range(LIMITED)])
    enqueue_many(tasks.unlimited, [((i,), {}) for i in range(100)])
    began = time.time()
    for i in range(3):
        start_worker("--name", f"rate{i}", env={"TASKQUEUE_TEST_STAMPS": str(stamps)})

    wait_until(lambda: len(starts(stamps, "limited")) >= LIMITED, timeout=40)
    stats = broker.stats("default")
    wait_until(lambda: broker.stats("default").in_flight == 0, timeout=10)

    limited, free = starts(stamps, "limited"), starts(stamps, "free")
    assert len(limited) == LIMITED  # none lost, none twice
    assert len(free) == 100
    assert 15 * 0.85 <= limited[-1] - limited[0] <= 15 * 1.15
    # A gated attempt starts when the gate admits it, on the Redis server's
    # clock (worker/settle.py): at most N + 1 in any window of the period
    # (lua/gate_rate.lua: each start within one interval of its booking).
    admitted = sorted(start_of(broker, result.id) for result in queued)
    assert 15 * 0.85 <= admitted[-1] - admitted[0] <= 15 * 1.15
    assert most_in_one_second(admitted) <= 20 + 1
    assert free[-1] - began < 10, "the unlimited task waited behind the limited one"
    assert stats.pending == 0
