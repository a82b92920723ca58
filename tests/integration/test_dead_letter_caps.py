"""DEAD_LETTER_TTL and DEAD_LETTER_MAX: dead letters do not grow without bound."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskqueue.broker import ClaimPolicy, Settlement
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.worker.deadcap import DeadLetterCap
from taskqueue.worker.settle import Settler

POLICY = ClaimPolicy(max_batch=100, worker_timeout=60, result_ttl=60)


def dead_letters(broker, count: int, *, at: float | None = None) -> list[str]:
    """``count`` dead letters written the way the settle writes them."""
    k = broker.keys("default")
    raws = [b"poison %d" % n for n in range(count)]
    broker.client.rpush(k.pending, *raws)
    held: list[bytes] = []
    while batch := broker.claim("default", "c1", POLICY).messages:
        held += [m.raw for m in batch]
    ids = [f"{n:016x}" for n in range(count)]
    broker.settle(
        "default", "c1",
        [Settlement("dead", raw, dead_id=i, payload=b"{}") for raw, i in zip(held, ids, strict=True)],
        ttl=60,
    )  # fmt: skip
    if at is not None:
        broker.client.zadd(k.dead_index, dict.fromkeys(ids, at))
    return ids


def test_the_oldest_beyond_the_cap_go_first(broker):
    ids = dead_letters(broker, 12)
    k = broker.keys("default")
    now = float(broker.client.time()[0])
    broker.client.zadd(k.dead_index, {i: now - 100 + n for n, i in enumerate(ids)})

    assert broker.trim_dead("default", ttl=10**9, most=5) == 7
    assert broker.dead_letter_ids("default") == ids[7:]
    assert broker.client.hlen(k.dead) == broker.client.hlen(k.dead_raw) == 5


def test_letters_older_than_the_ttl_go(broker):
    now = float(broker.client.time()[0])
    old = dead_letters(broker, 3, at=now - 100)
    k = broker.keys("default")
    broker.client.zadd(k.dead_index, {old[2]: now})  # one is recent

    assert broker.trim_dead("default", ttl=50, most=1000) == 2
    assert broker.dead_letter_ids("default") == [old[2]]
    assert broker.client.hkeys(k.dead_raw) == [old[2].encode()]


def test_nothing_to_trim_is_a_no_op(broker):
    dead_letters(broker, 2)
    assert broker.trim_dead("default", ttl=10**9, most=10) == 0
    assert len(broker.dead_letter_ids("default")) == 2


def test_the_settler_trims_after_writing_dead_letters(broker, caplog):
    options = QueueOptions.from_options({"DEAD_LETTER_MAX": 3})
    dead_letters(broker, 5)
    settler = Settler(broker=broker, consumer_id="c1", options=options)
    settler.flush()  # nothing dead written: no trim
    assert len(broker.dead_letter_ids("default")) == 5

    broker.client.rpush(broker.keys("default").pending, b"one more")
    (held,) = broker.claim("default", "c1", POLICY).messages
    settler.add("default", held.raw, _poison(held.raw))
    with caplog.at_level(logging.WARNING, logger="taskqueue.worker"):
        settler.flush()

    assert len(broker.dead_letter_ids("default")) == 3
    assert "Dropped 3 dead letters" in caplog.text


def test_a_settle_sent_ahead_is_trimmed_once_it_is_stored(broker):
    # As the fetcher does: each batch's settle rides behind the next claim, and
    # taking one confirms the one before. Before the fix the trim ran then, for
    # dead letters not yet stored, and the last batch's stayed over the cap.
    options = QueueOptions.from_options({"DEAD_LETTER_MAX": 3})
    settler = Settler(broker=broker, consumer_id="c1", options=options)
    k = broker.keys("default")
    broker.client.rpush(k.pending, *[b"poison %d" % n for n in range(5)])
    held: list[bytes] = []
    while batch := broker.claim("default", "c1", POLICY).messages:
        held += [m.raw for m in batch]

    for raws in (held[:2], held[2:]):
        for raw in raws:
            settler.add("default", raw, _poison(raw))
        pending = settler.take()
        _, replies = broker.claim_then_settle(
            "default", "c1", POLICY, settles=pending, ttl=60
        )
        settler.sent(replies, pending)
    settler.confirm()

    assert len(broker.dead_letter_ids("default")) == 3


def test_more_over_the_cap_than_one_call_drops_are_all_trimmed(broker):
    dead_letters(broker, 1105)
    cap = DeadLetterCap(broker, QueueOptions.from_options({"DEAD_LETTER_MAX": 100}))
    cap.note("default")
    cap.enforce()
    assert broker.client.zcard(broker.keys("default").dead_index) == 100


def test_a_trim_that_fails_is_logged_and_left_for_later(caplog):
    class Down:
        def trim_dead(self, *args, **kwargs):
            raise BrokerUnavailable("Redis unavailable: refused")

    cap = DeadLetterCap(Down(), QueueOptions.from_options({}))  # type: ignore[arg-type]
    cap.note("default")
    with caplog.at_level(logging.WARNING, logger="taskqueue.worker"):
        cap.enforce()
    assert "Could not trim dead letters queue=default" in caplog.text


@pytest.mark.parametrize(
    "options",
    [{"DEAD_LETTER_TTL": 0}, {"DEAD_LETTER_TTL": "1"}, {"DEAD_LETTER_MAX": -1},
     {"DEAD_LETTER_MAX": 1.5}, {"DEAD_LETTER_MAX": True}],
)  # fmt: skip
def test_garbage_caps_are_refused_at_start_up(options):
    with pytest.raises(ImproperlyConfigured, match="must be an integer >= 1"):
        QueueOptions.from_options(options)


def _poison(raw: bytes):
    from taskqueue.outcomes import Poison

    return Poison(reason="not a task")
