"""The settle's fencing: a consumer's late settle records nothing for a message
it no longer owns (issue 20, partitions).

A consumer cut off from Redis for longer than the worker timeout is presumed
dead: the next claim elsewhere recovers its in-flight messages and another
consumer runs and settles them. When the partition heals, the first one's
settle arrives late; the settle script skips every message that is not in
that consumer's own in-flight list, so the record, the dead letters, the
schedule and the counters stay as the owner left them.
"""

from __future__ import annotations

from taskqueue.broker import ClaimPolicy, Outgoing, Settlement

POLICY = ClaimPolicy(max_batch=10, worker_timeout=5, result_ttl=60)
RAWS = [b'{"v":1,"id":"f1"}', b'{"v":1,"id":"f2"}', b'{"v":1,"id":"f3"}']


def test_a_late_settle_of_recovered_messages_records_nothing(broker):
    k = broker.keys("default")
    broker.enqueue("default", Outgoing(["f1", "f2", "f3"], list(RAWS)))
    assert _claim_all(broker, "cut") == RAWS
    # "cut" sent no heartbeat for longer than the worker timeout.
    broker.client.zadd(k.consumers, {"cut": 0})

    first = broker.claim("default", "other", POLICY)
    assert first.recovered == 3
    assert [m.raw for m in first.messages] + _claim_all(broker, "other") == RAWS
    owner = [Settlement("done", raw, f"f{n}", "SUCCESSFUL", b'"other"')
             for n, raw in enumerate(RAWS, 1)]  # fmt: skip
    assert broker.settle("default", "other", owner, ttl=60) == 3
    before = _state(broker)

    late = [
        Settlement("done", RAWS[0], "f1", "SUCCESSFUL", b'"late"'),
        Settlement("retry", RAWS[1], "f2", "READY", RAWS[1], delay=1.0),
        Settlement("dead", RAWS[2], "f3", "FAILED", b'{"reason":"late"}',
                   dead_id="ab" * 8),
    ]  # fmt: skip
    assert broker.settle("default", "cut", late, ttl=60) == 0

    assert _state(broker) == before
    assert broker.client.hget(k.result("f1"), "return") == b'"other"'


def test_the_owner_still_settles_what_it_holds(broker):
    """The same call from the owner records (the fencing is per message)."""
    broker.enqueue("default", Outgoing(["f1"], [RAWS[0]]))
    (held,) = broker.claim("default", "me", POLICY).messages
    outcome = Settlement("done", held.raw, "f1", "SUCCESSFUL", b'"mine"')
    assert broker.settle("default", "me", [outcome], ttl=60) == 1
    assert broker.client.hget(broker.keys("default").result("f1"), "return") == (
        b'"mine"'
    )


def _claim_all(broker, consumer: str) -> list[bytes]:
    held: list[bytes] = []
    while batch := broker.claim("default", consumer, POLICY).messages:
        held += [m.raw for m in batch]
    return held


def _state(broker) -> dict[str, object]:
    k = broker.keys("default")
    c = broker.client
    return {
        "results": [c.hgetall(k.result(f"f{n}")) for n in (1, 2, 3)],
        "scheduled": c.zrange(k.scheduled, 0, -1),
        "dead": c.hgetall(k.dead),
        "dead_index": c.zrange(k.dead_index, 0, -1),
        "recent": c.lrange(k.recent, 0, -1),
        "pending": c.lrange(k.pending, 0, -1),
        "ready": c.hgetall(k.ready),
    }
