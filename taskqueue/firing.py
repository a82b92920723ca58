"""Firing a schedule's tick: the fire script's arguments, and what its reply means.

Shared by the worker's scheduler thread (on time, every tick), by
``manage.py schedules run`` and by the dashboard's Run button (one extra
run now). ``configured`` is the one way to get a backend's schedules with
their tasks.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from taskqueue import registry, schedules
from taskqueue.broker import Broker
from taskqueue.schedules import Schedule, message, priority_of, queue_of, tick_text
from taskqueue.store.schedules import Fired, Shot

log = logging.getLogger("taskqueue.schedules")
MARKER_TTL_MIN, MARKER_TTL_MAX = 120, 8 * 86400  # seconds a tick's marker is kept

Entry = tuple[Schedule, Any]  # a schedule and its registered task


def configured(backend: Any) -> tuple[Entry, ...]:
    """The schedules of a RedisBackend (SCHEDULES and @schedule), tasks resolved.

    ImproperlyConfigured names a bad one.
    """
    config = backend.config
    return schedules.load(
        backend.alias, config.schedules or {},
        tasks=registry.tasks(config.task_modules), queues=list(backend.queue_names),
        default_timezone=str(getattr(settings, "TIME_ZONE", None) or "UTC"),
        max_bytes=config.max_message_bytes,
    )  # fmt: skip


def marker_ttl(schedule: Schedule, tick: float) -> int:
    """Long enough that no worker still tries the tick; a few periods."""
    return int(min(MARKER_TTL_MAX, max(MARKER_TTL_MIN, 3 * schedule.period(tick))))


def fire_tick(
    broker: Broker, entry: Entry, *, alias: str, tick: float, now: float
) -> Fired:
    """Try to fire one tick (``now`` is our estimate of the server's clock)."""
    schedule, task = entry
    prev = schedule.before(tick)
    grace = schedule.grace(tick)
    task_id, raw = message(schedule, task, alias=alias, tick=tick, now=now)
    catch_id, catch_raw = "", b""
    if schedule.catch_up:  # the one run for a gap, if fire.lua finds one
        late = now - tick > grace
        gap_tick = tick if late or prev is None else prev
        catch_id, catch_raw = message(
            schedule, task, alias=alias, tick=gap_tick, now=now, catch_up=True
        )
    fired = broker.fire(
        Shot(
            name=schedule.name, queue=queue_of(schedule, task), tick=tick_text(tick),
            prev="" if prev is None else tick_text(prev), grace=grace,
            catch_up=schedule.catch_up, overlap=schedule.overlap,
            ttl=marker_ttl(schedule, tick), priority=priority_of(schedule, task),
            task_id=task_id, raw=raw, catch_up_id=catch_id, catch_up_raw=catch_raw,
        )
    )  # fmt: skip
    _account(broker, schedule, queue=queue_of(schedule, task), tick=tick, fired=fired)
    return fired


def fire_now(broker: Broker, entry: Entry, *, alias: str) -> str:
    """One extra run now (not a tick: no pause, overlap or tick check); its task id."""
    schedule, task = entry
    now = broker.server_time()
    task_id, raw = message(schedule, task, alias=alias, tick=now, now=now, manual=True)
    fired = broker.fire(
        Shot(
            name=schedule.name, queue=queue_of(schedule, task), tick=tick_text(now),
            prev="", grace=0.0, catch_up=False, overlap=True, ttl=MARKER_TTL_MIN,
            priority=priority_of(schedule, task), task_id=task_id, raw=raw, manual=True,
        )
    )  # fmt: skip
    log.info("Schedule %s run by hand: task_id=%s", schedule.name, fired.task_id)
    return fired.task_id


def _account(
    broker: Broker, schedule: Schedule, *, queue: str, tick: float, fired: Fired
) -> None:
    """The log line of a fired tick, and the count of a gap's missed ticks."""
    when = tick_text(tick)
    if fired.outcome == "fired":
        log.info(
            "Schedule %s fired tick %s: task_id=%s", schedule.name, when, fired.task_id
        )
    elif fired.outcome in ("paused", "overlap", "missed"):
        log.info("Schedule %s skipped tick %s (%s)", schedule.name, when, fired.outcome)
    if fired.catch_up_id:
        log.info(
            "Schedule %s caught up on missed ticks: task_id=%s",
            schedule.name, fired.catch_up_id,
        )  # fmt: skip
    if fired.gap_from is not None:
        last = tick if fired.outcome == "missed" else schedule.before(tick)
        if last is not None:
            missed = schedule.count_between(fired.gap_from, last)
            if missed:
                broker.count_missed(schedule.name, queue, missed)


def first_attempts(entries: tuple[Entry, ...], now: float) -> dict[str, float]:
    """At start-up: each schedule's latest tick (fired if still on time, or
    the gap it ends found), else its first."""
    plan = {}
    for schedule, _ in entries:
        latest = schedule.latest(now)
        plan[schedule.name] = latest if latest is not None else schedule.after(now)
    return plan


def next_attempt(schedule: Schedule, tick: float, now: float) -> float:
    """The tick after ``tick``, or the latest one if we fell behind (a stall)."""
    upcoming = schedule.after(tick)
    latest = schedule.latest(now)
    return latest if latest is not None and latest > upcoming else upcoming


def wait_seconds(schedule: Schedule, tick: float, now: float) -> float:
    return tick + schedule.delay(tick) - now
