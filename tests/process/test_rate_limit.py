"""issue 17, test 3: a fleet-wide rate limit, over three worker processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from taskqueue.backends import enqueue_many
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


def test_three_workers_start_at_most_twenty_a_second_and_others_pass(
    start_worker, broker, tmp_path
):
    stamps = tmp_path / "stamps"
    enqueue_many(tasks.rate_limited, [((i,), {}) for i in range(LIMITED)])
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
    # The gate admits at most N + 1 starts in any window of the period, on the
    # Redis server's clock (lua/gate_rate.lua: each start within one interval
    # of its booking). The stamps are taken in the task, after admission, by
    # processes a loaded 2-core machine can hold back for up to an interval
    # (50 ms here), which can carry one more start into a window: N + 2.
    assert most_in_one_second(limited) <= 20 + 2
    assert free[-1] - began < 10, "the unlimited task waited behind the limited one"
    assert stats.pending == 0
