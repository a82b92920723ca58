"""Key names (hash slots) and the backoff function."""

from __future__ import annotations

from redis.crc import key_slot

from taskqueue.keys import QueueKeys
from taskqueue.retry import backoff


def test_the_default_queue_is_the_original_key():
    keys = QueueKeys.for_queue("default")

    assert keys.pending == "task_queue"
    assert keys.inflight("w1").startswith("{task_queue}:")


def test_every_key_of_a_queue_shares_one_hash_slot():
    for name, prefix in [
        ("default", ""),
        ("high", ""),
        ("default", "t1:"),
        ("emails", "x:"),
    ]:
        keys = QueueKeys.for_queue(name, prefix)
        names = [keys.pending, keys.prio, keys.scheduled, keys.consumers, keys.redelivered,
                 keys.dead, keys.dead_index, keys.inflight("c"), keys.result("id")]  # fmt: skip
        assert len({key_slot(k.encode()) for k in names}) == 1, name


def test_queues_spread_over_slots_by_name():
    slots = {key_slot(QueueKeys.for_queue(f"q{i}").pending.encode()) for i in range(20)}

    assert len(slots) > 10


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    samples = [backoff(4, base=1.0, cap=100.0) for _ in range(500)]
    assert all(0 <= s <= 8 for s in samples)
    assert max(samples) > 4  # spread over the whole range, not a fixed delay
    assert all(backoff(30, base=1.0, cap=5.0) <= 5 for _ in range(100))
