"""Prometheus metrics, the recording side: what this process's workers did.

Two kinds of series, so that nothing is counted twice and nothing goes stale:

- Event series, updated by the worker that ran the task through ``record()``:
  ``taskqueue_tasks_total{task,status}`` (succeeded | failed | retried |
  dead_lettered), ``taskqueue_task_duration_seconds{task}``,
  ``taskqueue_task_retries_total{task}`` and
  ``taskqueue_dead_lettered_total{queue}``,
  ``taskqueue_task_deferrals_total{task,reason}`` (worker/gate.py).
- Fleet counts: each worker adds what it finished (``fleet_counts()``) to one
  never-expiring hash with its heartbeat, in the same flush as the
  dashboard's per-minute counters, so one scrape of the site (or of any
  worker) sees the whole fleet.

The state series read from Redis at scrape time, the fleet series, the
exposition and the ``/metrics`` view are in ``taskqueue.web.metrics``.

Prefork pool: each child has its own memory, so the event series go through
prometheus_client's multiprocess mode. ``runworker --metrics-port`` sets it
up itself (``use_multiprocess_dir()``): a fresh directory, removed on exit,
unless ``PROMETHEUS_MULTIPROC_DIR`` names one (then its old files are
deleted at start). Without it the series live in the serving process's
memory (the solo and threads pools, and the web site's own view).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram, values

from taskqueue.outcomes import Failed, Outcome, Poison, RetryLater, Succeeded

UNKNOWN = "unknown"  # task label of a message that could not be decoded
STATUSES = ("succeeded", "failed", "retried", "dead_lettered")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# registry=None: not in the global registry; exposition_registry() decides
# how they are served (directly, or merged from files in multiprocess mode).
TASKS = Counter(
    "taskqueue_tasks",
    "Tasks finished by a worker, by task and status.",
    ["task", "status"],
    registry=None,
)
DURATION = Histogram(
    "taskqueue_task_duration_seconds",
    "Run time of tasks that succeeded or failed (retries are not timed).",
    ["task"],
    buckets=BUCKETS,
    registry=None,
)
RETRIES = Counter(
    "taskqueue_task_retries",
    "Failed attempts that were scheduled to run again.",
    ["task"],
    registry=None,
)
DEAD = Counter(
    "taskqueue_dead_lettered",
    "Messages moved to a queue's dead-letter set.",
    ["queue"],
    registry=None,
)
DEFERRALS = Counter(
    "taskqueue_task_deferrals",
    "Starts a rate limit or concurrency cap deferred (taskqueue/worker/gate.py).",
    ["task", "reason"],
    registry=None,
)
EVENT_METRICS = (TASKS, DURATION, RETRIES, DEAD, DEFERRALS)


@dataclass(frozen=True, slots=True)
class _Series:
    """The label children of one task, bound once: record() does no label lookups."""

    succeeded: Any
    failed: Any
    retried: Any
    dead_lettered: Any
    duration: Any
    retries: Any
    fleet: dict[str, tuple[str, str]]  # status -> its key in the fleet counts
    ran: dict[type, tuple[Any, tuple[str, str]]]  # Succeeded/Failed -> child, key

    @classmethod
    def bind(cls, task: str) -> _Series:
        status = {s: TASKS.labels(task=task, status=s) for s in STATUSES}
        fleet = {s: (task, s) for s in STATUSES}
        return cls(
            **status,
            duration=DURATION.labels(task=task),
            retries=RETRIES.labels(task=task),
            fleet=fleet,
            ran={
                Succeeded: (status["succeeded"], fleet["succeeded"]),
                Failed: (status["failed"], fleet["failed"]),
            },
        )


_series: dict[str, _Series] = {}
_dead: dict[str, Any] = {}
# (task, status) -> count since the last heartbeat flush (see fleet_counts()).
_fleet: dict[tuple[str, str], int] = {}
_fleet_lock = threading.Lock()
_series_on = True  # record() updates the Prometheus series (see series_only_if_served)


def _for_task(task: str) -> _Series:
    series = _series.get(task)
    if series is None:  # a race only binds the same children twice
        series = _series[task] = _Series.bind(task)
    return series


def deferred(task: str, reason: str) -> None:
    """Count one start the gate deferred (rate_limit | concurrency)."""
    if _series_on:
        DEFERRALS.labels(task=task, reason=reason).inc()


def record(outcome: Outcome, queue: str = "") -> None:
    """Count one finished message. Cheap enough to call for every task.

    Always for the fleet totals (see fleet_counts()); the Prometheus series
    too unless a worker turned them off (see series_only_if_served()).
    ``queue`` labels ``taskqueue_dead_lettered_total``: pass the queue the
    message came from, since a Poison outcome carries no envelope ("unknown"
    otherwise). The other outcomes ignore it.
    """
    match outcome:
        case (
            Succeeded(envelope=env, duration=took) | Failed(envelope=env, duration=took)
        ):
            series = _for_task(env.task)
            count, fleet = series.ran[type(outcome)]
            _count_for_fleet(fleet)
            if _series_on:
                count.inc()
                series.duration.observe(took)
        case RetryLater(envelope=env):
            series = _for_task(env.task)
            _count_for_fleet(series.fleet["retried"])
            if _series_on:
                series.retried.inc()
                series.retries.inc()
        case Poison():
            series = _for_task(UNKNOWN)
            _count_for_fleet(series.fleet["dead_lettered"])
            if _series_on:
                series.dead_lettered.inc()
                _dead_child(queue or UNKNOWN).inc()


def _dead_child(queue: str) -> Any:
    child = _dead.get(queue)
    if child is None:
        child = _dead[queue] = DEAD.labels(queue=queue)
    return child


def _count_for_fleet(key: tuple[str, str]) -> None:
    with _fleet_lock:  # the threads pool's consumers count at once
        _fleet[key] = _fleet.get(key, 0) + 1


def fleet_counts() -> dict[str, int]:
    """Take this process's counts since the last call, as Redis hash fields.

    The heartbeat adds them to the fleet totals (Broker.add_task_totals).
    Fields are ``status:task`` (a status has no colon; a task path may not).
    """
    global _fleet
    with _fleet_lock:
        taken, _fleet = _fleet, {}
    return {f"{status}:{task}": n for (task, status), n in taken.items()}


def give_back_fleet_counts(counts: dict[str, int]) -> None:
    """Counts whose flush failed (Redis down): keep them for the next one."""
    with _fleet_lock:
        for field, n in counts.items():
            status, task = fleet_field_parts(field)
            _fleet[(task, status)] = _fleet.get((task, status), 0) + n


def fleet_field_parts(field: str) -> tuple[str, str]:
    """(status, task) of a fleet-count field, as fleet_counts() names them."""
    status, _, task = field.partition(":")
    return status, task


_serving = False  # this process serves /metrics (runworker --metrics-port)


def mark_served() -> None:
    """This process serves /metrics from its memory (see series_only_if_served)."""
    global _serving
    _serving = True


def recording() -> bool:
    """Whether a worker should call record(): always, the fleet totals need it."""
    return True


def series_only_if_served() -> None:
    """For a worker at start: skip the Prometheus series if nobody can read them.

    They are read from this process's memory when it serves /metrics, or
    from PROMETHEUS_MULTIPROC_DIR files by whichever process serves them.
    Otherwise updating them would cost every task time (about 1 us) for
    nothing. The fleet totals are counted either way. Other processes (the
    site, which serves its own memory on /metrics) keep the series on.
    """
    global _series_on
    _series_on = _serving or multiprocess_dir() is not None


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, or None when it is off."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path or None


def clear_multiprocess_dir() -> int:
    """Create the multiprocess directory and delete files of a previous run.

    Call once when the worker starts, before forking (stale files would
    otherwise add an old run's counts). Returns how many files were removed.
    """
    path = multiprocess_dir()
    if path is None:
        return 0
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    stale = list(directory.glob("*.db"))
    for file in stale:
        file.unlink(missing_ok=True)
    return len(stale)


def use_multiprocess_dir() -> Callable[[], None]:
    """Put this process (and the children it forks) in multiprocess mode.

    For the prefork supervisor, before it forks: a directory of its own,
    made fresh here, unless PROMETHEUS_MULTIPROC_DIR names one (cleared of
    a previous run's files). Returns the clean-up to call on exit: it
    removes a directory made here, and clears a named one.
    """
    named = multiprocess_dir()
    if named is None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="taskqueue-metrics-"
        )
    clear_multiprocess_dir()
    # prometheus_client picks its value class at import; children of the
    # metrics are made later (labels()), so switching it now is in time.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    path = multiprocess_dir()

    def clean_up() -> None:
        if named is None and path:
            shutil.rmtree(path, ignore_errors=True)
        else:
            clear_multiprocess_dir()

    return clean_up
