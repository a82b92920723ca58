"""Schedules: validation (ImproperlyConfigured naming the schedule), ticks, DST."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskqueue import schedules
from taskqueue.conf import QueueOptions
from taskqueue.schedules import parse

BERLIN = ZoneInfo("Europe/Berlin")
TASK = "tests.tasks.scheduled_run"


def at(*parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=BERLIN, fold=fold).timestamp()  # type: ignore[misc]


def local(t: float) -> str:
    return datetime.fromtimestamp(t, BERLIN).isoformat()


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"task": TASK, "cron": "61 * * * *"}, "not a cron expression"),
        ({"task": TASK, "cron": "* * *"}, "not a cron expression"),
        ({"task": TASK, "cron": "0 0 30 2 *"}, "never fires"),
        ({"task": TASK, "cron": 5}, "not a cron expression"),
        ({"task": TASK}, "exactly one of 'cron' and 'every'"),
        ({"task": TASK, "cron": "* * * * *", "every": 5}, "exactly one"),
        ({"task": TASK, "every": 0.5}, "'every' must be a number of seconds >= 1"),
        ({"task": TASK, "every": float("nan")}, "'every' must be"),
        ({"task": TASK, "every": True}, "'every' must be"),
        ({"task": TASK, "every": 5, "args": [object()]}, "'args' is not JSON"),
        ({"task": TASK, "every": 5, "args": "x"}, "'args' must be a JSON array"),
        (
            {"task": TASK, "every": 5, "kwargs": {"x": float("inf")}},
            "'kwargs' is not JSON",
        ),
        ({"task": TASK, "every": 5, "kwargs": {1: 2}}, "'kwargs' is not JSON"),
        ({"task": TASK, "every": 5, "when": 1}, "unknown key(s) when"),
        ({"task": TASK, "every": 5, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"task": TASK, "every": 5, "timezone": 3}, "unknown time zone"),
        ({"task": TASK, "every": 5, "priority": 101}, "'priority' must be"),
        (
            {"task": TASK, "every": 5, "overlap": "no"},
            "'overlap' must be true or false",
        ),
        ({"task": TASK, "every": 5, "jitter": -1}, "'jitter' must be"),
        ({"task": "", "every": 5}, "'task' must be"),
        ("every 5", "must be a dict"),
    ],
)
def test_a_bad_schedule_is_refused_naming_it(spec, says):
    with pytest.raises(ImproperlyConfigured, match=r"schedule 'nightly'") as info:
        parse("nightly", spec)
    assert says in str(info.value)


def test_bad_names_and_bad_settings_are_refused():
    with pytest.raises(ImproperlyConfigured, match="schedule name"):
        parse("a b", {"task": TASK, "every": 1})
    with pytest.raises(ImproperlyConfigured, match="SCHEDULES must be a dict"):
        QueueOptions.from_options({"SCHEDULES": ["x"]})
    with pytest.raises(ImproperlyConfigured, match="schedule 'x': unknown key"):
        QueueOptions.from_options(
            {"SCHEDULES": {"x": {"task": TASK, "every": 1, "y": 2}}}
        )


def test_unknown_task_and_queue_are_refused_at_load():
    entry = {"s": {"task": "tests.tasks.nope", "every": 1}}
    with pytest.raises(
        ImproperlyConfigured, match=r"schedule 's': unknown task 'tests\.tasks\.nope'"
    ):
        schedules.load(
            "default",
            entry,
            tasks={},
            queues=["default"],
            default_timezone="UTC",
            max_bytes=1000,
        )
    from tests.tasks import scheduled_run

    entry = {"s": {"task": TASK, "every": 1, "queue": "elsewhere"}}
    with pytest.raises(ImproperlyConfigured, match="schedule 's': queue 'elsewhere'"):
        schedules.load(
            "default",
            entry,
            tasks={TASK: scheduled_run},
            queues=["default"],
            default_timezone="UTC",
            max_bytes=1000,
        )


def test_the_decorator_declares_the_same_shape(monkeypatch):
    from tests.tasks import scheduled_run

    monkeypatch.setattr(schedules, "_declared", {})
    assert (
        schedules.schedule("every-ten", every=10, kwargs={"seconds": 0})(scheduled_run)
        is scheduled_run
    )
    loaded = schedules.load(
        "default", {}, tasks={TASK: scheduled_run}, queues=["default"],
        default_timezone="Europe/Berlin", max_bytes=10_000,
    )  # fmt: skip
    ((sched, task),) = loaded
    assert (sched.name, sched.task, sched.every, sched.timezone) == (
        "every-ten",
        TASK,
        10,
        "Europe/Berlin",
    )
    assert task is scheduled_run
    with pytest.raises(ImproperlyConfigured, match="schedule 'bad': unknown key"):
        schedules.schedule("bad", every=1, when=2)(scheduled_run)
    with pytest.raises(
        ImproperlyConfigured, match="both in SCHEDULES and by @schedule"
    ):
        schedules.load(
            "default",
            {"every-ten": {"task": TASK, "every": 5}},
            tasks={TASK: scheduled_run},
            queues=["default"],
            default_timezone="UTC",
            max_bytes=10_000,
        )
    with pytest.raises(ImproperlyConfigured, match="goes above a @task"):
        schedules.schedule("plain", every=1)(len)


def test_every_ticks_are_aligned_so_all_workers_agree():
    s = parse("s", {"task": TASK, "every": 5})
    assert (s.latest(12.3), s.after(12.3), s.after(15.0), s.before(15.0)) == (
        10,
        15,
        20,
        10,
    )
    assert s.count_between(10, 30) == 4


def test_cron_in_local_time():
    s = parse("s", {"task": TASK, "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"})
    friday_noon = at(2026, 12, 4, 12, 0)
    assert local(s.after(friday_noon)) == "2026-12-07T09:00:00+01:00"  # Monday
    assert local(s.latest(friday_noon)) == "2026-12-04T09:00:00+01:00"
    assert s.latest(at(2026, 12, 4, 9, 0)) == at(
        2026, 12, 4, 9, 0
    )  # a tick is its own latest


def test_dst_a_skipped_local_time_fires_at_the_next_valid_instant():
    # 2026-03-29 in Berlin: 02:00 jumps to 03:00, so 02:30 does not exist.
    s = parse("s", {"task": TASK, "cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    ticks = [s.after(at(2026, 3, 28, 12, 0))]
    ticks.append(s.after(ticks[-1]))
    assert [local(t) for t in ticks] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    every_quarter = parse(
        "q", {"task": TASK, "cron": "*/15 2 * * *", "timezone": "Europe/Berlin"}
    )
    first = every_quarter.after(at(2026, 3, 29, 1, 0))
    assert local(first) == "2026-03-29T03:00:00+02:00"  # four missing times, one run
    assert local(every_quarter.after(first)) == "2026-03-30T02:00:00+02:00"


def test_dst_a_repeated_local_time_fires_once():
    # 2026-10-25 in Berlin: 03:00 goes back to 02:00, so 02:00-02:59 happen twice.
    s = parse("s", {"task": TASK, "cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    first = s.after(at(2026, 10, 24, 12, 0))
    assert first == at(2026, 10, 25, 2, 30, fold=0)
    assert local(s.after(first)) == "2026-10-26T02:30:00+01:00"  # not 02:30 again
    half = parse(
        "h", {"task": TASK, "cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    )
    seen, t = [], at(2026, 10, 25, 1, 50)
    for _ in range(5):
        t = half.after(t)
        seen.append(local(t))
    assert seen == [
        "2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
        "2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00", "2026-10-25T04:00:00+01:00",
    ]  # fmt: skip
    # In the second 02:xx hour, the latest tick is the first pass's last one.
    assert half.latest(at(2026, 10, 25, 2, 40, fold=1)) == at(
        2026, 10, 25, 2, 30, fold=0
    )


def test_jitter_is_the_same_on_every_worker_and_within_bounds():
    s = parse("s", {"task": TASK, "every": 60, "jitter": 10})
    delays = {s.delay(t) for t in range(0, 6000, 60)}
    assert all(0 <= d < 10 for d in delays)
    assert len(delays) > 50
    assert s.delay(120) == parse("s", {"task": TASK, "every": 60, "jitter": 10}).delay(
        120
    )
    assert parse("s", {"task": TASK, "every": 60}).delay(120) == 0


def test_a_schedule_run_carries_its_schedule_in_the_envelope():
    from taskqueue.decoding import decode
    from tests.tasks import scheduled_run

    s = parse("s", {"task": TASK, "every": 5, "kwargs": {"seconds": 1}})
    task_id, raw = schedules.message(
        s, scheduled_run, alias="default", tick=10.0, now=11.0, catch_up=True
    )
    env = decode(raw, max_bytes=10_000, queue="default")
    assert (env.id, env.task, env.kwargs) == (task_id, TASK, {"seconds": 1})
    assert env.schedule == {"name": "s", "tick": 10.0, "catch_up": True}
    assert env.next_attempt().schedule == env.schedule


@pytest.mark.parametrize(
    "bad",
    [b'"x"', b'{"tick":1}', b'{"name":"s","tick":"1"}', b'{"name":"s","tick":1,"x":1}',
     b'{"name":"s","tick":1,"manual":1}', b'{"name":"","tick":1}'],
)  # fmt: skip
def test_a_message_with_a_bad_schedule_field_is_poison(bad):
    from taskqueue.decoding import decode
    from taskqueue.exceptions import PoisonMessage

    raw = (
        b'{"v":1,"id":"a","p":0,"task":"t","args":[],"kwargs":{},"queue":"default",'
        b'"backend":"default","enqueued_at":1,"attempt":1,"schedule":' + bad + b"}"
    )
    with pytest.raises(PoisonMessage, match="schedule"):
        decode(raw, max_bytes=10_000, queue="default")
