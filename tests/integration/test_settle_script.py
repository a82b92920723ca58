"""settle.lua and claim.lua against a real Redis: all of a batch or none of it."""

from __future__ import annotations

import pytest
import redis

from taskqueue.broker import ClaimPolicy, Settlement
from taskqueue.exceptions import BrokerError

POLICY = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=60)


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

    with pytest.raises(BrokerError, match="bad meta for message 2"):
        broker.settle("default", "c1", [good, bad], ttl=60)

    assert broker.client.lrange(broker.keys("default").inflight("c1"), 0, -1) == held
    assert broker.client.hget(broker.keys("default").result("a1"), "return") is None


def test_a_legacy_message_is_claimed_wrapped_with_an_id_of_its_own(broker):
    held = claim_all(broker, [b"{'recipe_id': 5}"] * 3 + [b"not json"])

    wrapped = held[:3]
    assert len(set(wrapped)) == 3
    assert all(raw.startswith(b'{"v":1,"id":"') for raw in wrapped)
    assert all(b'"legacy":"{\'recipe_id\': 5}"' in raw for raw in wrapped)
    assert held[3] == b"not json"  # only '{' messages are wrapped


def test_the_settle_records_the_envelope_a_legacy_message_became(broker):
    (held,) = claim_all(broker, [b'{"recipe_id": 5}'])
    envelope = b'{"v":1,"id":"L1","p":0,"task":"recipe.tasks.process_recipe"}'
    outcome = Settlement("done", held, "L1", "SUCCESSFUL", b"null", msg=envelope)

    assert broker.settle("default", "c1", [outcome], ttl=60) == 1

    record = broker.client.hgetall(broker.keys("default").result("L1"))
    assert record[b"msg"] == envelope
    assert broker.stats("default").in_flight == 0


def test_an_enqueue_with_a_bad_argument_writes_nothing(broker):
    script = broker._scripts["enqueue"]
    k = broker.keys("default")
    args = [b"wake", "ok1", 5, 0, b"m1", "bad", "x", 0, b"m2"]

    with pytest.raises(
        redis.ResponseError, match="bad priority or delay for message 2"
    ):
        script(keys=[k.pending, k.prio, k.scheduled, k.ready], args=args)

    assert broker.client.hlen(k.ready) == 0
    assert broker.client.zcard(k.prio) == 0
