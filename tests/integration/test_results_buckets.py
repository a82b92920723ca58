"""Plain successes are recorded in shared results buckets (lua/settle_plain.lua).

A first attempt that ran and returned gets no key of its own: its record is
one field of ``{Q}:results:<start>:<span>``, listed in ``{Q}:results``. Every
reader still finds it by id, as it finds any record: the backend, a waiter,
a cancel, the task list, the task page's Retry link.
"""

from __future__ import annotations

import math

import pytest

from taskqueue.broker import ClaimPolicy, Settlement
from taskqueue.results import ResultRecord
from taskqueue.store.records import unpack_plain
from taskqueue.store.tasklist import IndexEntry, Position
from tests.helpers import stored_record

TTL = 60
SPAN = math.ceil(TTL / 16)  # a bucket is a sixteenth of the ttl wide
POLICY = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=TTL, min_batch=10)


def run_plain(broker, ids: list[str]) -> list[bytes]:
    """Claim one message per id and settle each as a plain success."""
    k = broker.keys("default")
    raws = [
        b'{"v":1,"id":"%s","p":0,"task":"tests.tasks.noop"}' % i.encode() for i in ids
    ]
    broker.client.rpush(k.pending, *raws)
    held = [m.raw for m in broker.claim("default", "c1", POLICY).messages]
    assert held == raws
    outcomes = [
        Settlement("done", raw, i, "SUCCESSFUL", b"42", started=100.5, finished=101.25)
        for raw, i in zip(held, ids, strict=True)
    ]
    assert all(outcome.plain for outcome in outcomes)
    assert broker.settle("default", "c1", outcomes, ttl=TTL) == len(ids)
    return raws


def test_a_plain_success_is_a_field_of_its_spans_bucket_and_reads_as_a_record(broker):
    k = broker.keys("default")
    raws = run_plain(broker, ["p1", "p2"])

    [(member, start)] = broker.client.zrange(k.results_index, 0, -1, withscores=True)
    assert member == f"{int(start)}:{SPAN}".encode()
    assert start % SPAN == 0
    bucket = k.results_bucket(member.decode())
    assert sorted(broker.client.hkeys(bucket)) == [b"p1", b"p2"]
    # It outlives its last record's ttl, a little (the settle unlinks it first).
    assert TTL < broker.client.ttl(bucket) <= TTL + SPAN + 120
    # p1 was the first of its claim: its key holds only the claim's RUNNING mark.
    assert broker.client.hget(k.result("p1"), "status") == b"RUNNING"
    assert not broker.client.exists(k.result("p2"))

    for task_id, raw in zip(["p1", "p2"], raws, strict=True):
        record = ResultRecord.parse(stored_record(broker, task_id))
        assert record.status == "SUCCESSFUL"
        assert record.return_value == 42
        assert record.task_path == "tests.tasks.noop"
        assert record.started_at.timestamp() == 100.5
        assert record.finished_at.timestamp() == 101.25
        assert record.bucket is not None
        assert stored_record(broker, task_id)[b"msg"] == raw


def test_every_reader_finds_a_plain_success(broker):
    run_plain(broker, ["p1", "p2"])

    assert broker.result_record("p2", ["default"])[0][b"status"] == b"SUCCESSFUL"
    assert broker.count_waiter("default", "p1", delta=1) == "SUCCESSFUL"
    assert broker.count_waiter("default", "p2", delta=1) == "SUCCESSFUL"
    assert (
        broker.cancel("default", "p1", mode="stop", ttl=TTL, error=b"{}") == "finished"
    )
    assert (
        broker.cancel("default", "p2", mode="stop", ttl=TTL, error=b"{}") == "finished"
    )
    [(entry, row)] = broker.find_finished("p2", ["default"])
    assert row[b"status"] == b"SUCCESSFUL"
    assert b"return" not in row
    [listed] = broker.row_records(
        [IndexEntry(Position(entry.position.minute, 0), "p2", "default")]
    )
    assert listed == row
    [page] = broker.index_slices([("default", None)], count=10)
    assert [e.task_id for e in page] == ["p2", "p1"]
    assert [task_id for task_id, _ in broker.recent_results("default")] == ["p2", "p1"]


def test_a_retry_link_on_a_plain_success_expires_with_the_result(broker):
    k = broker.keys("default")
    run_plain(broker, ["p1", "p2"])

    broker.link_retry(("default", "p2"), ("default", "n1"), ttl=TTL)

    assert 0 < broker.client.ttl(k.result("p2")) <= TTL
    record = ResultRecord.parse(stored_record(broker, "p2"))
    assert record.status == "SUCCESSFUL"
    assert record.retried_as == ("n1",)


def test_a_bucket_whose_records_are_all_ttl_old_is_unlinked_by_the_next_minute(broker):
    k = broker.keys("default")
    stale, live = "100:4", "1000000000000:4"  # the first long gone, the second not yet
    for member, start in ((stale, 100), (live, 10**12)):
        broker.client.zadd(k.results_index, {member: start})
        broker.client.hset(k.results_bucket(member), "old", "x")

    run_plain(broker, ["p1"])  # the first settle of its minute sweeps

    members = broker.client.zrange(k.results_index, 0, -1)
    assert stale.encode() not in members
    assert live.encode() in members
    assert not broker.client.exists(k.results_bucket(stale))
    assert broker.client.exists(k.results_bucket(live))


@pytest.mark.parametrize(
    "packed", [b"", b"7", b"7\nc 1 2", b"garbage\n\n\n", b"\xff\n\xfe\n\n{"]
)
def test_a_damaged_packed_record_reads_as_what_it_has(packed):
    record = unpack_plain(packed)
    assert record[b"status"] == b"SUCCESSFUL"
    ResultRecord.parse(record)  # never raises: unreadable parts are reported


def test_a_foreign_key_named_like_a_bucket_is_skipped(broker):
    k = broker.keys("default")
    broker.client.zadd(k.results_index, {"5:4": 5})
    broker.client.set(k.results_bucket("5:4"), "not a hash")
    run_plain(broker, ["p1"])

    assert stored_record(broker, "p1")[b"status"] == b"SUCCESSFUL"
    assert stored_record(broker, "missing") == {}


def test_a_batch_of_thousands_is_recorded_whole(broker):
    """The bucket's HSET goes in parts (Lua's unpack takes at most 8000 values)."""
    k = broker.keys("default")
    ids = [f"b{i}" for i in range(2_500)]
    raws = [
        b'{"v":1,"id":"%s","p":0,"task":"tests.tasks.noop"}' % i.encode() for i in ids
    ]
    broker.client.rpush(k.pending, *raws)
    policy = ClaimPolicy(
        max_batch=2_500, worker_timeout=60, result_ttl=TTL, min_batch=2_500
    )
    held = [m.raw for m in broker.claim("default", "c1", policy).messages]
    outcomes = [
        Settlement("done", raw, i, "SUCCESSFUL", b"1", started=1.0, finished=2.0)
        for raw, i in zip(held, ids, strict=True)
    ]

    assert broker.settle("default", "c1", outcomes, ttl=TTL) == 2_500

    [member] = broker.client.zrange(k.results_index, 0, -1)
    assert broker.client.hlen(k.results_bucket(member.decode())) == 2_500
    statuses = {r.get(b"status") for r, _ in broker.stored("default", ids[-300:])}
    assert statuses == {b"SUCCESSFUL"}
