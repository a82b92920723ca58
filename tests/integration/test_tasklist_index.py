"""The finished index the settle script keeps (``{Q}:finished:<minute>`` buckets, settle_index.lua)."""

from __future__ import annotations

import re
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


def buckets(broker) -> dict[int, list[str]]:
    """Every bucket the minutes zset names, minute -> its ids in order."""
    k = broker.keys("default")
    minutes = [int(m) for m in broker.client.zrange(k.finished_minutes, 0, -1)]
    return {
        m: [i.decode() for i in broker.client.lrange(k.finished_prefix + str(m), 0, -1)]
        for m in minutes
    }


def test_a_settle_appends_its_finished_tasks_to_the_minutes_bucket(broker):
    raws = [b'{"v":1,"id":"i%d"}' % i for i in range(4)]
    held = claim_all(broker, raws)
    outcomes = [
        Settlement("done", held[0], "i0", "SUCCESSFUL", b"1"),
        Settlement("dead", held[1], "i1", "FAILED", b"{}", dead_id="ab"),
        Settlement("retry", held[2], "i2", "READY", b'{"v":1,"id":"i2"}', delay=30),
        Settlement("done", held[3], "i3", "SUCCESSFUL", b"3"),
    ]
    before = int(broker.client.time()[0]) // 60

    assert broker.settle("default", "c1", outcomes, ttl=60) == 4

    (minute,) = buckets(broker)
    assert minute in {before, before + 1}  # the server's minute at the settle
    assert buckets(broker)[minute] == ["i0", "i1", "i3"]  # a retry has not finished
    k = broker.keys("default")
    assert 110 <= broker.client.ttl(k.finished_prefix + str(minute)) <= 120
    assert broker.client.hget(k.result("i0"), "bucket") == str(minute).encode()
    # Settled again (its next attempt): appended again; the page shows it once.
    (again,) = claim_all(broker, [b'{"v":1,"id":"i0"}'])
    broker.settle(
        "default", "c1", [Settlement("done", again, "i0", "SUCCESSFUL", b"1")], ttl=60
    )
    listed = buckets(broker)  # the same bucket, or the next minute's
    assert [i for m in sorted(listed) for i in listed[m]] == ["i0", "i1", "i3", "i0"]


def test_a_new_bucket_trims_the_minutes_whose_buckets_expired(broker):
    k = broker.keys("default")
    now = int(broker.client.time()[0]) // 60
    broker.client.zadd(
        k.finished_minutes, {str(now - 5): now - 5, str(now - 1): now - 1}
    )
    (held,) = claim_all(broker, [b'{"v":1,"id":"n1"}'])

    broker.settle(
        "default", "c1", [Settlement("done", held, "n1", "SUCCESSFUL", b"1")], ttl=60
    )

    minutes = [int(m) for m in broker.client.zrange(k.finished_minutes, 0, -1)]
    assert minutes[0] == now - 1  # now - 5 expired (ttl 60 s: two minutes kept)
    assert len(minutes) == 2


@pytest.mark.django_db(transaction=True)
def test_a_task_listed_in_two_buckets_shows_once_in_the_later(broker, admin_client):
    """Redelivered and settled twice: the record's 'bucket' names the one that lists it."""
    k = broker.keys("default")
    now = int(broker.client.time()[0])
    minute = now // 60
    for task_id, bucket, finished in (
        ("twice", minute, now),
        ("other", minute - 1, now - 60),
    ):
        broker.client.hset(k.result(task_id), mapping={
            "msg": b'{"v":1,"id":"%s","task":"t.t","queue":"default"}' % task_id.encode(),
            "status": "SUCCESSFUL", "finished_at": finished, "bucket": bucket,
        })  # fmt: skip
    broker.client.rpush(k.finished_prefix + str(minute - 1), "twice", "other")
    broker.client.rpush(k.finished_prefix + str(minute), "twice", "twice")
    for m in (minute - 1, minute):
        broker.client.zadd(k.finished_minutes, {str(m): m})

    page = admin_client.get("/admin/queues/tasks/").content.decode()

    assert re.findall(r'data-task-id="([^"]+)"', page) == ["twice", "other"]


@pytest.mark.django_db(transaction=True)
def test_tasks_run_by_a_worker_are_indexed_with_their_records(broker, run_command):
    ok = tasks.add.enqueue(2, 3)
    bad = tasks.permanent_failure.enqueue()
    start = time.time()
    assert run_command("runworker", "--burst").returncode == 0

    entries = broker.index_slice("default", count=10)

    assert {e.task_id for e in entries} == {ok.id, bad.id}
    assert all(abs(e.position.minute * 60 - start) < 90 for e in entries)
    records = broker.row_records(entries)
    assert {r[b"status"] for r in records} == {b"SUCCESSFUL", b"FAILED"}


@pytest.mark.django_db(transaction=True)
def test_a_task_cancelled_before_it_started_is_indexed(broker):
    queued = tasks.add.enqueue(1, 2)

    assert (
        broker.cancel("default", queued.id, mode="stop", ttl=60, error=b"{}")
        == "cancelled"
    )

    (entry,) = broker.index_slice("default", count=10)
    assert entry.task_id == queued.id
    record = broker.client.hget(broker.keys("default").result(queued.id), "bucket")
    assert record == str(entry.position.minute).encode()


def test_a_time_bound_reads_finish_times_from_spans_and_survives_garbage(broker):
    """A plain success keeps its finish in worker:1 only (settle_plain.lua); a
    record with neither a finish nor a readable span sorts as early, no error."""
    k = broker.keys("default")
    minute = 29_000_000
    base = minute * 60.0
    fields = {
        "a": {"finished_at": base + 1},
        "b": {"worker:1": f"w {base + 1.5} {base + 2}"},
        "c": {"worker:1": "garbage"},
        "d": {"worker:1": f"w {base + 3.5} {base + 4}"},
    }
    for task_id, times in fields.items():
        broker.client.hset(k.result(task_id), mapping={"status": "SUCCESSFUL", **times})
    broker.client.rpush(k.finished_prefix + str(minute), *fields)
    broker.client.zadd(k.finished_minutes, {str(minute): minute})

    since = broker.index_slice("default", count=10, since=base + 1.75)
    until = broker.index_slice("default", count=10, until=base + 1.75)

    # The cuts are read from the spans; c (no finish known) counts as early
    # (the page's exact filter drops it), which may move a cut by one entry.
    assert {"a", "b"} <= {e.task_id for e in until} <= {"a", "b", "c"}
    assert "d" in {e.task_id for e in since}
    assert "a" not in {e.task_id for e in since}
