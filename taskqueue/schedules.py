"""Periodic tasks: what a schedule is, when its ticks fall, and its validation.

A schedule fires a registered task on a rule, ``cron`` (a 5- or 6-field
expression read by croniter, in the schedule's time zone) or ``every`` N
seconds (ticks at multiples of N since the epoch, so that every worker
agrees on them without talking). Schedules come from
``TASKS[alias]["OPTIONS"]["SCHEDULES"]`` and from the ``@schedule``
decorator; both go through ``parse``, so they mean the same.

A tick is a unix time in seconds; each is fired at most once, by whichever
worker's fire script claims it first (taskqueue/worker/scheduler.py,
taskqueue/lua/fire.lua). This module never touches Redis.

Daylight saving time (cron rules): a local time that occurs twice fires
once, at its first occurrence; a local time that does not exist (the clock
jumps over it) fires at the next valid instant, the end of the jump.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.core.exceptions import ImproperlyConfigured

from taskqueue import crontime
from taskqueue.protocol import SCHEDULE_NAME_MAX, Envelope, dumps_json

KEYS = frozenset(
    {"task", "cron", "every", "args", "kwargs", "queue", "priority", "timezone",
     "catch_up", "overlap", "jitter"}
)  # fmt: skip
NAME_RE = re.compile(rf"[A-Za-z0-9_.:-]{{1,{SCHEDULE_NAME_MAX}}}")
MAX_GRACE = 60.0  # a tick fired later than this (or a period) is a missed tick
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Schedule:
    """One validated schedule (``task`` is a path; ``check_task`` resolves it)."""

    name: str
    task: str
    cron: str | None = None
    every: float | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None  # None: the task's queue
    priority: int | None = None  # None: the task's priority
    timezone: str = "UTC"
    catch_up: bool = False
    overlap: bool = True
    jitter: float = 0.0

    @property
    def rule(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.every:g}s"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def after(self, at: float) -> float:
        """The first tick strictly after ``at``."""
        if self.every is not None:
            return (math.floor(at / self.every) + 1) * self.every
        return crontime.after(self._cron_expr, self.zone, at)

    def latest(self, at: float) -> float | None:
        """The last tick at or before ``at`` (None if the rule has none)."""
        if self.every is not None:
            return math.floor(at / self.every) * self.every
        return crontime.before(self._cron_expr, self.zone, math.floor(at) + 1)

    def before(self, tick: float) -> float | None:
        """The tick before ``tick``."""
        if self.every is not None:
            return tick - self.every
        return crontime.before(self._cron_expr, self.zone, tick)

    def period(self, at: float) -> float:
        """The gap between the next two ticks after ``at`` (grace and marker life)."""
        first = self.after(at)
        return max(1.0, self.after(first) - first)

    def grace(self, at: float) -> float:
        """How late a tick may fire and still count as on time."""
        return min(self.period(at), MAX_GRACE) + self.jitter

    def delay(self, tick: float) -> float:
        """The jitter of one tick: the same on every worker, in [0, jitter)."""
        if not self.jitter:
            return 0.0
        digest = hashlib.blake2b(f"{self.name}@{tick}".encode(), digest_size=4)
        return int.from_bytes(digest.digest()) / 2**32 * self.jitter

    def count_between(self, first: float, last: float, limit: int = 10**6) -> int:
        """How many ticks lie in (first, last] (for the missed-tick counter)."""
        if self.every is not None:
            return max(0, min(limit, round((last - first) / self.every)))
        count, tick = 0, first
        while count < limit:
            tick = self.after(tick)
            if tick > last:
                break
            count += 1
        return count

    @property
    def _cron_expr(self) -> str:
        if self.cron is None:
            raise TypeError(f"schedule {self.name!r} has no cron rule")
        return self.cron


def tick_text(tick: float) -> str:
    """A tick as it appears in keys and scripts: milliseconds, no trailing zeros."""
    return f"{tick:.3f}".rstrip("0").rstrip(".")


def message(
    schedule: Schedule, task: Any, *, alias: str, tick: float, now: float,
    **flags: bool,
) -> tuple[str, bytes]:  # fmt: skip
    """A fresh task id and the envelope of one run of ``schedule``."""
    task_id = secrets.token_hex(16)
    mark: dict[str, Any] = {"name": schedule.name, "tick": tick}
    mark.update({flag: True for flag, on in flags.items() if on})
    envelope = Envelope(
        id=task_id, task=schedule.task, args=list(schedule.args),
        kwargs=dict(schedule.kwargs), queue=queue_of(schedule, task),
        backend=alias, priority=priority_of(schedule, task), enqueued_at=now,
        schedule=mark,
    )  # fmt: skip
    return task_id, envelope.encode()


def queue_of(schedule: Schedule, task: Any) -> str:
    return schedule.queue if schedule.queue is not None else str(task.queue_name)


def priority_of(schedule: Schedule, task: Any) -> int:
    return schedule.priority if schedule.priority is not None else int(task.priority)


# Validation ---------------------------------------------------------------


def parse(name: Any, spec: Any, *, default_timezone: str = "UTC") -> Schedule:
    """A Schedule, or ImproperlyConfigured naming the schedule and what is wrong."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ImproperlyConfigured(
            f"schedule name {name!r} must be 1-{SCHEDULE_NAME_MAX} letters, digits"
            " or _ . : -"
        )

    def bad(problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"schedule {name!r}: {problem}")

    if not isinstance(spec, Mapping):
        raise bad("must be a dict")
    unknown = sorted(str(k) for k in spec if k not in KEYS)
    if unknown:
        raise bad(
            f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})"
        )
    task = spec.get("task")
    if not isinstance(task, str) or not task:
        raise bad("'task' must be a task's dotted path")
    if ("cron" in spec) == ("every" in spec):
        raise bad("give exactly one of 'cron' and 'every'")
    values: dict[str, Any] = {"name": name, "task": task}
    values.update(_rule(spec, bad))
    values.update(_arguments(spec, bad))
    values.update(_placement(spec, bad))
    values["timezone"] = _zone(spec.get("timezone", default_timezone), bad)
    values.update(_behaviour(spec, bad))
    return Schedule(**values)


Bad = Callable[[str], Exception]


def _rule(spec: Mapping[str, Any], bad: Bad) -> dict[str, Any]:
    if "cron" in spec:
        return {"cron": _cron(spec["cron"], bad)}
    return {"every": _number(spec["every"], key="every", least=1.0, bad=bad)}


def _arguments(spec: Mapping[str, Any], bad: Bad) -> dict[str, Any]:
    args = _json(spec.get("args", []), kind=list, key="args", bad=bad)
    kwargs = _json(spec.get("kwargs", {}), kind=dict, key="kwargs", bad=bad)
    if any(not isinstance(k, str) for k in kwargs):
        raise bad("'kwargs' keys must be strings")
    return {"args": args, "kwargs": kwargs}


def _behaviour(spec: Mapping[str, Any], bad: Bad) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for flag in ("catch_up", "overlap"):
        if flag in spec:
            if type(spec[flag]) is not bool:
                raise bad(f"{flag!r} must be true or false")
            values[flag] = spec[flag]
    if "jitter" in spec:
        values["jitter"] = _number(spec["jitter"], key="jitter", least=0.0, bad=bad)
    return values


def _placement(spec: Mapping[str, Any], bad: Bad) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "queue" in spec:
        if not isinstance(spec["queue"], str) or not spec["queue"]:
            raise bad("'queue' must be a queue name")
        values["queue"] = spec["queue"]
    if "priority" in spec:
        p = spec["priority"]
        if type(p) is not int or not -100 <= p <= 100:
            raise bad("'priority' must be an integer from -100 to 100")
        values["priority"] = p
    return values


def _cron(value: Any, bad: Callable[[str], Exception]) -> str:
    if not isinstance(value, str) or not croniter.is_valid(value):
        raise bad(f"{value!r} is not a cron expression (minute hour day month weekday)")
    if len(value.split()) not in (5, 6):
        raise bad(f"{value!r}: a cron expression has 5 fields (6 with seconds)")
    try:  # valid but never true (e.g. 30 February) is refused here, not at run time
        crontime.after(value, ZoneInfo("UTC"), 0.0)
    except (ValueError, OverflowError) as exc:
        raise bad(f"{value!r} never fires: {exc}") from None
    return value


def _number(value: Any, *, key: str, least: float, bad: Bad) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < least:
        raise bad(f"{key!r} must be a number of seconds >= {least:g}")
    if value > 366 * 86400:
        raise bad(f"{key!r} must be at most a year")
    return float(value)


def _json(value: Any, *, kind: type, key: str, bad: Bad) -> Any:
    if isinstance(value, tuple) and kind is list:
        value = list(value)
    if not isinstance(value, kind):
        raise bad(f"{key!r} must be a JSON {'array' if kind is list else 'object'}")
    try:
        dumps_json(value)
    except TypeError as exc:
        raise bad(f"{key!r} is not JSON: {exc}") from None
    return value


def _zone(value: Any, bad: Callable[[str], Exception]) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise bad(f"unknown time zone {value!r}") from None
    return str(value)


def parse_all(raw: Any, *, default_timezone: str = "UTC") -> tuple[Schedule, ...]:
    """The SCHEDULES option: a dict of name -> spec."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(
            "OPTIONS SCHEDULES must be a dict of name -> schedule"
        )
    return tuple(
        parse(name, spec, default_timezone=default_timezone)
        for name, spec in raw.items()
    )


def check_task(
    schedule: Schedule, tasks: Mapping[str, Any], queues: list[str], *, max_bytes: int
) -> Any:
    """The schedule's registered task, or ImproperlyConfigured saying why not."""
    task = tasks.get(schedule.task)
    if task is None:
        raise ImproperlyConfigured(
            f"schedule {schedule.name!r}: unknown task {schedule.task!r} "
            "(not a @task in an installed app's tasks module)"
        )
    queue = queue_of(schedule, task)
    if queue not in queues:
        raise ImproperlyConfigured(
            f"schedule {schedule.name!r}: queue {queue!r} is not one of {queues}"
        )
    _, raw = message(schedule, task, alias="x" * 50, tick=0.0, now=0.0)
    if len(raw) > max_bytes:
        raise ImproperlyConfigured(
            f"schedule {schedule.name!r}: its message is over {max_bytes} bytes"
        )
    return task


# The decorator --------------------------------------------------------------

_declared: dict[str, tuple[str, dict[str, Any]]] = {}  # name -> (alias, spec)


def schedule(name: str | None = None, **spec: Any) -> Callable[[T], T]:
    """Register a schedule of the decorated ``@task`` (same keys as SCHEDULES, no 'task').

    ``@schedule("nightly", cron="0 3 * * *")`` above ``@task``; the name
    defaults to the task's path. The schedule belongs to the task's backend.
    """

    def register(task: T) -> T:
        path = getattr(task, "module_path", None)
        if not isinstance(path, str):
            raise ImproperlyConfigured("@schedule goes above a @task function")
        if "task" in spec:
            raise ImproperlyConfigured(
                f"schedule {name or path!r}: 'task' is the decorated one"
            )
        full = {"task": path, **spec}
        key = name or path
        parse(key, full)  # the shape now, at import; the time zone default later
        alias = str(getattr(task, "backend", "default"))
        if _declared.get(key, (alias, full)) != (alias, full):
            raise ImproperlyConfigured(f"schedule {key!r} is declared twice")
        _declared[key] = (alias, full)
        return task

    return register


def declared(alias: str) -> dict[str, dict[str, Any]]:
    """The schedules the decorator registered for a backend alias."""
    return {name: spec for name, (owner, spec) in _declared.items() if owner == alias}


def load(
    alias: str, settings_schedules: Mapping[str, Any], *, tasks: Mapping[str, Any],
    queues: list[str], default_timezone: str, max_bytes: int,
) -> tuple[tuple[Schedule, Any], ...]:  # fmt: skip
    """Every schedule of a backend with its task: settings first, then decorators.

    ImproperlyConfigured for a bad one (the worker calls this at start-up,
    after the task registry is loaded, which imports the decorators).
    """
    from_code = declared(alias)
    both = sorted(set(from_code) & set(settings_schedules))
    if both:
        raise ImproperlyConfigured(
            f"schedule {both[0]!r} is declared both in SCHEDULES and by @schedule"
        )
    merged = {**settings_schedules, **from_code}
    parsed = parse_all(merged, default_timezone=default_timezone)
    return tuple((s, check_task(s, tasks, queues, max_bytes=max_bytes)) for s in parsed)
