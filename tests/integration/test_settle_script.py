"""settle.lua and claim.lua against a real Redis: all of a batch or none of it.

The settle's argument layout: Settlement.argv() and settle_args.lua agree, and a
malformed argument list fails the whole call with a clear error, nothing written.
"""

from __future__ import annotations

import dataclasses

import orjson
import pytest
import redis

from taskqueue.broker import ClaimPolicy, Settlement
from taskqueue.decoding import decode
from taskqueue.exceptions import BrokerError
from taskqueue.results import ResultRecord
from taskqueue.store.scripts import compose
from taskqueue.store.settlement import PLAIN_FIELDS, SETTLE_FIELDS, SHORT_FIELDS
from tests.helpers import stored_record

POLICY = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=60)
# settle_args.lua names each field's offset after the Python field.
NAMES = ", ".join(name.upper() for name in SETTLE_FIELDS)
OFFSETS = f"return {{{NAMES}, SETTLE_FIELDS}}"


def claim_all(broker, raws: list[bytes]) -> list[bytes]:
    broker.client.rpush(broker.keys("default").pending, *raws)
    held: list[bytes] = []
    while batch := broker.claim("default", "c1", POLICY).messages:
        held += [m.raw for m in batch]
    return held


def test_a_bad_argument_fails_the_settle_before_anything_is_written(broker):
    held = claim_all(broker, [b'{"v":1,"id":"a1"}', b'{"v":1,"id":"a2"}'])
    good = Settlement("done", held[0], "a1", "SUCCESSFUL", b"1")
    bad = Settlement("done", held[1], "a2", "SUCCESSFUL", b"2", attempt=-1)

    with pytest.raises(BrokerError, match="bad arguments for message 2"):
        broker.settle("default", "c1", [good, bad], ttl=60)

    assert broker.client.lrange(broker.keys("default").inflight("c1"), 0, -1) == held
    assert stored_record(broker, "a1").get(b"return") is None


def test_a_legacy_message_is_claimed_wrapped_with_an_id_of_its_own(broker):
    held = claim_all(broker, [b"{'recipe_id': 5}"] * 3 + [b"not json"])

    wrapped = held[:3]
    assert len(set(wrapped)) == 3
    assert all(raw.startswith(b'{"v":1,"id":"') for raw in wrapped)
    assert all(b'"legacy":"{\'recipe_id\': 5}"' in raw for raw in wrapped)
    assert held[3] == b"not json"  # only '{' messages are wrapped


def test_a_legacy_message_keeps_the_id_of_its_first_claim_through_redeliveries(
    broker,
):
    """Claimed by c1, which dies; recovered for c2, which dies; then c3: one id."""
    (first,) = claim_all(broker, [b'{"recipe_id": 5}'])
    first_id = decode(first, max_bytes=1024, queue="default").id
    keys = broker.keys("default")

    for dead, claimer in (("c1", "c2"), ("c2", "c3")):
        broker.client.zadd(keys.consumers, {dead: 1})  # silent since 1970
        (again,) = broker.claim("default", claimer, POLICY).messages
        assert again.raw == first  # the same wrapper, not wrapped again
        assert decode(again.raw, max_bytes=1024, queue="default").id == first_id
    assert again.redeliveries == 2
    assert broker.client.lrange(keys.inflight("c3"), 0, -1) == [first]


def test_the_settle_records_the_envelope_a_legacy_message_became(broker):
    (held,) = claim_all(broker, [b'{"recipe_id": 5}'])
    envelope = b'{"v":1,"id":"L1","p":0,"task":"recipe.tasks.process_recipe"}'
    outcome = Settlement("done", held, "L1", "SUCCESSFUL", b"null", msg=envelope)

    assert broker.settle("default", "c1", [outcome], ttl=60) == 1

    record = stored_record(broker, "L1")
    assert record[b"msg"] == envelope
    assert broker.stats("default").in_flight == 0


def test_an_enqueue_with_a_bad_argument_writes_nothing(broker):
    script = broker.scripts["enqueue"]
    k = broker.keys("default")
    args = [b"wake", "ok1", 5, 0, b"m1", "bad", "x", 0, b"m2"]

    with pytest.raises(
        redis.ResponseError, match="bad priority or delay for message 2"
    ):
        script(keys=[k.pending, k.prio, k.scheduled, k.ready], args=args)

    assert broker.client.hlen(k.ready) == 0
    assert broker.client.zcard(k.prio) == 0


def test_the_arguments_are_the_settlement_fields_in_their_declared_order():
    outcome = Settlement("done", b"raw")

    assert tuple(f.name for f in dataclasses.fields(Settlement)) == SETTLE_FIELDS
    assert len(outcome.argv()) == len(SETTLE_FIELDS)
    assert outcome.argv()[SETTLE_FIELDS.index("raw")] == b"raw"


def test_a_call_with_no_step_nor_limit_sends_the_short_stride(broker):
    k = broker.keys("default")
    plain = [Settlement("done", b"r1", "t1", "SUCCESSFUL", b"1")]
    step = Settlement("done", b"r2", "t2", "SUCCESSFUL", b"1", workflow="w1")

    _, short = broker._settle_call("default", "c1", plain, ttl=60)
    _, wide = broker._settle_call("default", "c1", [*plain, step], ttl=60)

    assert short == [
        "c1",
        k.result_prefix,
        60,
        SHORT_FIELDS,
        *plain[0].argv()[:SHORT_FIELDS],
    ]
    assert len(wide) == 4 + 2 * len(SETTLE_FIELDS)
    assert wide[3] == len(SETTLE_FIELDS)
    assert wide[-3:] == ["w1", "", ""]


def test_a_short_settle_records_and_releases_and_a_bad_stride_is_refused(broker):
    held = claim_all(broker, [b'{"v":1,"id":"a1"}'])
    k = broker.keys("default")
    fields = Settlement("done", held[0], "a1", "SUCCESSFUL", b"7").argv(wide=False)
    header = ["c1", k.result_prefix, 60]
    keys, _ = broker._settle_call("default", "c1", [], ttl=60)

    with pytest.raises(redis.ResponseError, match="settle: bad stride"):
        broker.scripts.run("settle", keys, [*header, 15, *fields])
    assert_nothing_written(broker, held)

    assert broker.scripts.run("settle", keys, [*header, SHORT_FIELDS, *fields]) == 1
    assert broker.client.hget(k.result("a1"), "return") == b"7"
    assert broker.stats("default").in_flight == 0


def test_lua_reads_each_field_at_the_offset_python_writes_it(broker):
    script = compose("settle", "settle_args") + OFFSETS
    call = ["c1", "prefix:", 60, len(SETTLE_FIELDS), *Settlement("done", b"raw").argv()]

    offsets = broker.client.eval(script, 8, *["{t}:k"] * 8, *call)

    assert offsets == [*range(len(SETTLE_FIELDS)), len(SETTLE_FIELDS)]


def test_every_field_lands_where_the_settle_writes_it(broker):
    k = broker.keys("default")
    raws = claim_all(broker, [b'{"v":1,"id":"r1"}', b'{"v":1,"id":"d1"}'])
    broker.client.hset(k.redelivered, raws[0], 1)
    retry = Settlement(
        "retry", raws[0], "r1", "READY", b'{"v":1,"id":"r1","next":1}', "error:2",
        b'{"class":"E"}', 30.0, attempt=2, redelivered=True, started=10.25,
        finished=11.5,
    )  # fmt: skip
    dead = Settlement(
        "dead", raws[1], "d1", "FAILED", b'{"id":"00ff"}', "error:dead", b'{"r":1}',
        dead_id="00ff", started=20.5, finished=21.75, msg=b'{"v":1,"id":"d1","t":1}',
    )  # fmt: skip

    assert broker.settle("default", "c1", [retry, dead], ttl=60) == 2

    assert broker.client.hgetall(k.result("r1")) | {b"started_at": b"-"} == {
        b"status": b"READY", b"msg": b'{"v":1,"id":"r1","next":1}',
        b"worker:2": b"c1 10.250000 11.500000", b"error:2": b'{"class":"E"}',
        b"last_attempted_at": b"10.250000", b"worker": b"c1", b"started_at": b"-",
    }  # fmt: skip
    assert 60 < broker.client.ttl(k.result("r1")) <= 90
    assert broker.client.zrange(k.scheduled, 0, -1) == [retry.payload]
    assert not broker.client.hexists(k.redelivered, raws[0])
    record = broker.client.hgetall(k.result("d1"))
    assert record[b"status"] == b"FAILED"
    assert record[b"msg"] == dead.msg
    assert record[b"finished_at"] == b"21.750000"
    assert record[b"error:dead"] == b'{"r":1}'
    assert record[b"started_at"] == record[b"last_attempted_at"] == b"20.500000"
    assert b"worker:1" not in record
    assert broker.client.hget(k.dead, "00ff") == b'{"id":"00ff"}'
    assert broker.client.hget(k.dead_raw, "00ff") == raws[1]
    assert broker.client.zrange(k.dead_index, 0, -1) == [b"00ff"]


def test_a_field_may_hold_any_bytes(broker):
    (held,) = claim_all(broker, [b'{"v":1,"id":"a|b"}'])
    outcome = Settlement(
        "done", held, "a1", "SUCCESSFUL", b'"x|y|\x00"', msg=b'{"v":1,"id":"a1|"}'
    )

    assert broker.settle("default", "c1", [outcome], ttl=60) == 1

    record = broker.client.hgetall(broker.keys("default").result("a1"))
    assert record[b"return"] == b'"x|y|\x00"'
    assert record[b"msg"] == b'{"v":1,"id":"a1|"}'


@pytest.mark.parametrize(
    "bad",
    [{"op": "maybe"}, {"status": "NOT OK"}, {"delay": float("nan")},
     {"delay": float("inf")}, {"dead_id": "xyz"}],
)  # fmt: skip
def test_a_malformed_field_fails_the_call_and_writes_nothing(broker, bad):
    held = claim_all(broker, [b'{"v":1,"id":"a1"}', b'{"v":1,"id":"a2"}'])
    good = Settlement("done", held[0], "a1", "SUCCESSFUL", b"1")
    wrong = Settlement("dead", held[1], "a2", "FAILED", b"{}", dead_id="0a")

    with pytest.raises(BrokerError, match="settle: bad arguments for message 2"):
        broker.settle(
            "default", "c1", [good, dataclasses.replace(wrong, **bad)], ttl=60
        )

    assert_nothing_written(broker, held)


def test_a_redelivered_flag_other_than_0_or_1_is_refused(broker):
    held = claim_all(broker, [b'{"v":1,"id":"a1"}'])
    fields = list(Settlement("done", held[0], "a1", "SUCCESSFUL", b"1").argv())
    fields[SETTLE_FIELDS.index("redelivered")] = "2"

    with pytest.raises(redis.ResponseError, match="bad arguments for message 1"):
        run_settle(broker, fields)

    assert_nothing_written(broker, held)


def test_an_argument_list_one_field_short_fails_and_writes_nothing(broker):
    held = claim_all(broker, [b'{"v":1,"id":"a1"}', b'{"v":1,"id":"a2"}'])
    items = [Settlement("done", raw, "a", "SUCCESSFUL", b"1") for raw in held]

    with pytest.raises(redis.ResponseError, match="settle: bad argument count"):
        run_settle(broker, [v for item in items for v in item.argv()][:-1])

    assert_nothing_written(broker, held)


def run_settle(broker, fields: list) -> int:
    """The settle script with these message fields, as the broker calls it."""
    k = broker.keys("default")
    keys = [
        k.inflight("c1"), k.scheduled, k.redelivered, k.dead, k.dead_index,
        k.dead_raw, k.recent, k.ready,
    ]  # fmt: skip
    header = ["c1", k.result_prefix, 60, len(SETTLE_FIELDS)]
    return broker.scripts.run("settle", keys, [*header, *fields])


def assert_nothing_written(broker, held: list[bytes]) -> None:
    k = broker.keys("default")
    assert broker.client.lrange(k.inflight("c1"), 0, -1) == held
    for raw in held:  # each record as its claim left it
        record = broker.client.hgetall(k.result(orjson.loads(raw)["id"]))
        assert record[b"status"] == b"RUNNING"
        assert b"finished_at" not in record
    assert not broker.client.exists(k.recent, k.scheduled, k.dead, k.dead_index)


def test_lua_reads_a_plain_call_at_the_offsets_python_writes_it(broker):
    script = compose("settle", "settle_args") + (
        "return {RAW, TASK_ID, RECORD, MSG or -1, OP == nil, PAYLOAD == nil, SETTLE_FIELDS}"
    )
    for msg in (False, True):
        fields = PLAIN.plain_argv("c1", msg=msg)
        call = ["c1", "prefix:", 60, len(fields), *fields]

        offsets = broker.client.eval(script, 8, *["{t}:k"] * 8, *call)

        assert offsets == [0, 1, 2, 3 if msg else -1, 1, 1, len(fields)]
    assert PLAIN.plain_argv("c1", msg=True) == (
        b"x", "p1", b"c1 100.500000 101.250000\n7", b"",
    )  # fmt: skip


PLAIN = Settlement(
    "done", b"x", "p1", "SUCCESSFUL", b"7", started=100.5, finished=101.25
)


def test_plain_successes_go_as_three_fields_and_are_recorded_as_any_call_records_them(
    broker,
):
    k = broker.keys("default")
    raws = claim_all(
        broker, [b'{"v":1,"id":"p1"}', b'{"v":1,"id":"p2"}', b'{"v":1,"id":"f1"}']
    )
    plain = dataclasses.replace(PLAIN, raw=raws[0])
    also_plain = dataclasses.replace(PLAIN, raw=raws[1], task_id="p2")
    failed = Settlement(
        "done", raws[2], "f1", "FAILED", error_field="error:1", error_json=b"{}",
        started=100.5, finished=101.25,
    )  # fmt: skip
    assert plain.plain
    assert not failed.plain
    assert not Settlement("done", b"r").plain

    _, argv = broker._settle_call("default", "c1", [plain], ttl=60)
    assert argv == [
        "c1", k.result_prefix, 60, len(PLAIN_FIELDS), *plain.plain_argv("c1", msg=False),
    ]  # fmt: skip
    assert broker.settle("default", "c1", [plain], ttl=60) == 1
    assert not broker.client.exists(k.recent)  # in the finished index only
    # p2 goes in a call that is not plain (a failure is in it): the same record.
    assert broker.settle("default", "c1", [also_plain, failed], ttl=60) == 2
    assert broker.client.lrange(k.recent, 0, -1) == [b"f1", b"p2"]
    recent = [task_id for task_id, _ in broker.recent_results("default")]
    assert sorted(recent) == ["f1", "p1", "p2"]

    one, two = (stored_record(broker, i) for i in ("p1", "p2"))
    assert one.pop(b"msg") == raws[0]
    assert two.pop(b"msg") == raws[1]
    claim_marks = (b"started_at", b"last_attempted_at", b"worker")  # claim_reply.lua
    one, two = (
        {f: v for f, v in r.items() if f not in claim_marks} for r in (one, two)
    )
    assert one == two
    assert set(one) == {b"status", b"bucket", b"worker:1", b"return"}
    assert broker.stats("default").in_flight == 0
    record = ResultRecord.parse(stored_record(broker, "p1"))
    assert (
        record.started_at.timestamp() == record.last_attempted_at.timestamp() == 100.5
    )
    assert record.finished_at.timestamp() == 101.25


def test_a_plain_call_out_of_order_releases_by_value_and_skips_what_is_gone(broker):
    k = broker.keys("default")
    raws = claim_all(broker, [b'{"v":1,"id":"p1"}', b'{"v":1,"id":"p2"}'])
    second = dataclasses.replace(PLAIN, raw=raws[1], task_id="p2")
    gone = dataclasses.replace(PLAIN, raw=b'{"v":1,"id":"gone"}', task_id="gone")

    assert broker.settle("default", "c1", [second, gone], ttl=60) == 1

    assert broker.client.lrange(k.inflight("c1"), 0, -1) == [raws[0]]
    assert stored_record(broker, "p2")[b"status"] == b"SUCCESSFUL"
    assert stored_record(broker, "gone") == {}


def test_a_plain_call_with_an_adopted_legacy_message_records_its_envelope(broker):
    (held,) = claim_all(broker, [b'{"recipe_id": 5}'])
    envelope = b'{"v":1,"id":"L1","p":0,"task":"recipe.tasks.process_recipe"}'
    legacy = dataclasses.replace(PLAIN, raw=held, task_id="L1", msg=envelope)

    _, argv = broker._settle_call("default", "c1", [legacy], ttl=60)
    assert argv[3] == len(PLAIN_FIELDS) + 1
    assert broker.settle("default", "c1", [legacy], ttl=60) == 1

    assert stored_record(broker, "L1")[b"msg"] == envelope
    assert broker.stats("default").in_flight == 0
