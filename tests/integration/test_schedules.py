"""The fire script on a real Redis: one run per tick, skips counted, gaps caught up."""

from __future__ import annotations

import math

import orjson
import pytest

from taskqueue import firing
from taskqueue.decoding import decode
from taskqueue.schedules import parse
from tests.tasks import scheduled_run

TASK = "tests.tasks.scheduled_run"


def entry(**spec):
    return parse("s", {"task": TASK, **spec}), scheduled_run


def pending(broker, queue="default"):
    k = broker.keys(queue)
    return [
        decode(raw, max_bytes=10**6, queue=queue)
        for raw in broker.client.lrange(k.pending, 0, -1)
    ]


def state(broker, name="s", queue="default"):
    (s,) = broker.schedule_states([(name, queue)])
    return s


def current_tick(broker, every):
    return math.floor(broker.server_time() / every) * every


def test_a_tick_fires_once_however_many_workers_try(broker):
    e = entry(every=60)
    tick = current_tick(broker, 60)
    outcomes = [
        firing.fire_tick(
            broker, e, alias="default", tick=tick, now=broker.server_time()
        ).outcome
        for _ in range(5)
    ]
    assert outcomes == ["fired", "done", "done", "done", "done"]
    (env,) = pending(broker)
    assert env.schedule == {"name": "s", "tick": tick}
    assert (env.task, env.queue) == (TASK, "default")
    st = state(broker)
    assert (st.last_tick, st.last_id, st.counts["fired"]) == (tick, env.id, 1)
    marker = broker.keys("default").schedule_tick("s", firing.tick_text(tick))
    assert 0 < broker.client.ttl(marker) <= firing.MARKER_TTL_MAX


def test_a_tick_not_yet_due_on_the_server_clock_is_refused(broker):
    e = entry(every=60)
    future = current_tick(broker, 60) + 60
    fired = firing.fire_tick(broker, e, alias="default", tick=future, now=future)
    assert fired.outcome == "early"
    assert pending(broker) == []
    assert abs(fired.server_now - broker.server_time()) < 1


def test_overlap_false_skips_while_the_last_run_is_queued_or_running(broker):
    e = entry(
        every=1, overlap=False, jitter=30
    )  # jitter: a grace of 31 s, so no tick is late
    t = current_tick(broker, 1)
    assert (
        firing.fire_tick(broker, e, alias="default", tick=t - 3, now=t).outcome
        == "fired"
    )
    assert (
        firing.fire_tick(broker, e, alias="default", tick=t - 2, now=t).outcome
        == "overlap"
    )
    (env,) = pending(broker)
    k = broker.keys("default")
    broker.client.hdel(k.ready, env.id)  # claimed: RUNNING in its record
    broker.client.hset(k.result(env.id), "status", "RUNNING")
    assert (
        firing.fire_tick(broker, e, alias="default", tick=t - 1, now=t).outcome
        == "overlap"
    )
    broker.client.hset(k.result(env.id), "status", "SUCCESSFUL")
    assert (
        firing.fire_tick(broker, e, alias="default", tick=t, now=t).outcome == "fired"
    )
    st = state(broker)
    assert (st.counts["skipped:overlap"], st.counts["fired"]) == (2, 2)


def test_pause_is_persisted_and_a_manual_run_ignores_it(broker):
    e = entry(every=1, jitter=30)
    tick = current_tick(broker, 1)
    broker.set_schedule_paused("s", "default", True)
    assert (
        firing.fire_tick(broker, e, alias="default", tick=tick - 1, now=tick).outcome
        == "paused"
    )
    assert pending(broker) == []
    assert state(broker).paused
    task_id = firing.fire_now(broker, e, alias="default")
    (env,) = pending(broker)
    assert env.id == task_id
    assert env.schedule["manual"] is True
    broker.set_schedule_paused("s", "default", False)
    assert (
        firing.fire_tick(broker, e, alias="default", tick=tick, now=tick).outcome
        == "fired"
    )
    st = state(broker)
    assert (st.paused, st.counts["skipped:paused"], st.counts["fired"]) == (False, 1, 2)


@pytest.mark.parametrize("catch_up", [False, True])
def test_a_gap_is_counted_as_missed_and_caught_up_once_if_asked(broker, catch_up):
    e = entry(every=1, catch_up=catch_up, jitter=1)  # a grace of 2 s
    now = current_tick(broker, 1)
    assert (
        firing.fire_tick(broker, e, alias="default", tick=now - 6, now=now).outcome
        == "missed"
    )
    assert state(broker).counts["skipped:missed"] == 0  # no history: nothing missed
    fired = firing.fire_tick(broker, e, alias="default", tick=now, now=now)
    assert fired.outcome == "fired"
    assert state(broker).counts["skipped:missed"] == 5  # now-5 .. now-1
    runs = pending(broker)
    assert [r.schedule.get("catch_up", False) for r in runs] == (
        [True, False] if catch_up else [False]
    )
    if catch_up:
        assert runs[0].schedule["tick"] == now - 1
        assert fired.catch_up_id == runs[0].id


def test_a_late_tick_with_catch_up_fires_once_for_the_whole_gap(broker):
    e = entry(every=1, catch_up=True, jitter=1)  # a grace of 2 s
    now = current_tick(broker, 1)
    firing.fire_tick(broker, e, alias="default", tick=now - 10, now=now)
    fired = firing.fire_tick(broker, e, alias="default", tick=now - 3, now=now)
    assert fired.outcome == "missed"
    (run,) = pending(broker)
    assert run.schedule == {"name": "s", "tick": now - 3, "catch_up": True}
    assert state(broker).counts["skipped:missed"] == 7


def test_priority_and_queue_of_the_schedule(broker):
    e = (
        parse("p", {"task": TASK, "every": 60, "priority": 5, "queue": "high"}),
        scheduled_run,
    )
    tick = current_tick(broker, 60)
    assert (
        firing.fire_tick(broker, e, alias="default", tick=tick, now=tick).outcome
        == "fired"
    )
    k = broker.keys("high")
    (raw,) = broker.client.zrange(k.prio, 0, -1)
    assert orjson.loads(raw)["p"] == 5
    assert orjson.loads(raw)["schedule"]["name"] == "p"
    assert broker.client.exists(k.schedule("p"))
    assert k.schedule("p").startswith(k.tag)


def test_redis_down_is_broker_unavailable():
    from taskqueue.broker import Broker
    from taskqueue.exceptions import BrokerUnavailable

    dead = Broker.connect("redis://127.0.0.1:1/0")
    with pytest.raises(BrokerUnavailable):
        firing.fire_tick(dead, entry(every=1), alias="default", tick=1.0, now=1.0)
    with pytest.raises(BrokerUnavailable):
        dead.schedule_states([("s", "default")])


def test_no_schedules_no_thread(broker):
    from taskqueue.worker import scheduler
    from taskqueue.worker.stop import StopFlag

    assert scheduler.start(broker, (), alias="default", stop=StopFlag()) is None


def test_scheduler_threads_with_skewed_clocks_fire_each_tick_once(broker):
    import time

    from taskqueue.worker.scheduler import Scheduler
    from taskqueue.worker.stop import StopFlag

    stop = StopFlag()
    threads = [
        Scheduler(broker=broker, entries=(entry(every=1),), alias="default", stop=stop,
                  clock=lambda skew=skew: time.time() + skew)
        for skew in (-3.0, 0.0, 3.0)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(pending(broker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    ticks = [env.schedule["tick"] for env in pending(broker)]
    assert len(ticks) >= 3
    assert len(set(ticks)) == len(ticks)
    assert sum(t.fired for t in threads) == len(ticks)
    assert all(
        abs(t.offset + skew) < 0.5 for t, skew in zip(threads, (-3, 0, 3), strict=True)
    )
