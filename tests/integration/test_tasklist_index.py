"""The finished index the settle script keeps (``{Q}:finished``, settle_index.lua)."""

from __future__ import annotations

import time

import pytest

from taskqueue.broker import ClaimPolicy, Settlement
from tests import tasks

POLICY = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=60)


def claim_all(broker, raws: list[bytes]) -> list[bytes]:
    broker.client.rpush(broker.keys("default").pending, *raws)
    held: list[bytes] = []
    while batch := broker.claim("default", "c1", POLICY).messages:
        held += [m.raw for m in batch]
    return held


def index(broker) -> dict[str, float]:
    entries = broker.client.zrange(
        broker.keys("default").finished, 0, -1, withscores=True
    )
    return {member.decode(): score for member, score in entries}


def test_a_settle_indexes_its_finished_tasks_once_by_the_server_clock(broker):
    raws = [b'{"v":1,"id":"i%d"}' % i for i in range(4)]
    held = claim_all(broker, raws)
    before = float(broker.client.time()[0])
    outcomes = [
        Settlement("done", held[0], "i0", "SUCCESSFUL", b"1"),
        Settlement("dead", held[1], "i1", "FAILED", b"{}", dead_id="ab"),
        Settlement("retry", held[2], "i2", "READY", b'{"v":1,"id":"i2"}', delay=30),
        Settlement("done", held[3], "i3", "SUCCESSFUL", b"3"),
    ]

    assert broker.settle("default", "c1", outcomes, ttl=60) == 4

    scores = index(broker)
    assert set(scores) == {"i0", "i1", "i3"}  # a retry has not finished
    assert all(before <= s <= before + 2 for s in scores.values())
    assert len(set(scores.values())) == 3  # the batch is spread: no equal scores
    # Settled again (its next attempt): still once, at the new time.
    (again,) = claim_all(broker, [b'{"v":1,"id":"i0"}'])
    broker.settle(
        "default", "c1", [Settlement("done", again, "i0", "SUCCESSFUL", b"1")], ttl=60
    )
    assert sorted(index(broker)) == ["i0", "i1", "i3"]
    assert index(broker)["i0"] >= scores["i0"]


def test_a_settle_trims_what_expired_with_its_result(broker):
    k = broker.keys("default")
    now = float(broker.client.time()[0])
    broker.client.zadd(k.finished, {"old": now - 120, "young": now - 10})
    (held,) = claim_all(broker, [b'{"v":1,"id":"n1"}'])

    broker.settle(
        "default", "c1", [Settlement("done", held, "n1", "SUCCESSFUL", b"1")], ttl=60
    )

    assert sorted(index(broker)) == ["n1", "young"]


@pytest.mark.django_db(transaction=True)
def test_tasks_run_by_a_worker_are_indexed_with_their_records(broker, run_command):
    ok = tasks.add.enqueue(2, 3)
    bad = tasks.permanent_failure.enqueue()
    start = time.time()
    assert run_command("runworker", "--burst").returncode == 0

    entries = broker.index_slice(["default"], count=10)

    assert {e.task_id for e in entries} == {ok.id, bad.id}
    assert all(abs(e.score - start) < 30 for e in entries)
    records = broker.row_records(entries)
    assert {r[b"status"] for r in records} == {b"SUCCESSFUL", b"FAILED"}


@pytest.mark.django_db(transaction=True)
def test_a_task_cancelled_before_it_started_is_indexed(broker):
    queued = tasks.add.enqueue(1, 2)

    assert (
        broker.cancel("default", queued.id, mode="stop", ttl=60, error=b"{}")
        == "cancelled"
    )

    assert [e.task_id for e in broker.index_slice(["default"], count=10)] == [queued.id]
