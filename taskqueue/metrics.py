"""Prometheus metrics: what the workers did (counters) and what Redis holds (gauges).

Two kinds of series, so that nothing is counted twice and nothing goes stale:

- Event series, updated by the worker that ran the task through ``record()``:
  ``taskqueue_tasks_total{task,status}`` (succeeded | failed | retried |
  dead_lettered), ``taskqueue_task_duration_seconds{task}``,
  ``taskqueue_task_retries_total{task}`` and
  ``taskqueue_dead_lettered_total{queue}``.
- State series, read from Redis at scrape time by ``QueueCollector`` (so any
  process can serve them and they are never out of date):
  ``taskqueue_queue_messages{queue,state}`` (pending | in_flight | scheduled |
  dead), ``taskqueue_workers`` (live worker names), ``taskqueue_worker_processes``
  (live heartbeat entries: one per prefork child) and ``taskqueue_broker_up``.
- Fleet series, read from Redis at scrape time by ``FleetCollector``:
  ``taskqueue_fleet_tasks_total{task,status}``, what every worker finished
  (same statuses as ``taskqueue_tasks_total``). Each worker adds its counts
  to one never-expiring hash with its heartbeat, in the same flush as the
  dashboard's per-minute counters, so one scrape of the site (or of any
  worker) sees the whole fleet. Every endpoint serves the same values: do
  not sum them across endpoints.

Prefork pool: each child has its own memory, so the event series go through
prometheus_client's multiprocess mode. ``runworker --metrics-port`` sets it
up itself (``use_multiprocess_dir()``): a fresh directory, removed on exit,
unless ``PROMETHEUS_MULTIPROC_DIR`` names one (then its old files are
deleted at start). Without it the series live in the serving process's
memory (the solo and threads pools, and the web site's own view).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import orjson
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    GC_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    exposition,
    multiprocess,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taskqueue.auth import AuthFailure, authenticate
from taskqueue.compat import task_backends
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.outcomes import Failed, Outcome, Poison, RetryLater, Succeeded

log = logging.getLogger("taskqueue.metrics")

UNKNOWN = "unknown"  # task label of a message that could not be decoded
STATUSES = ("succeeded", "failed", "retried", "dead_lettered")
STATES = ("pending", "in_flight", "scheduled", "dead")
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
EVENT_METRICS = (TASKS, DURATION, RETRIES, DEAD)


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

    @classmethod
    def bind(cls, task: str) -> _Series:
        status = {s: TASKS.labels(task=task, status=s) for s in STATUSES}
        return cls(
            **status,
            duration=DURATION.labels(task=task),
            retries=RETRIES.labels(task=task),
            fleet={s: (task, s) for s in STATUSES},
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


def record(outcome: Outcome, queue: str = "") -> None:
    """Count one finished message. Cheap enough to call for every task.

    Always for the fleet totals (see fleet_counts()); the Prometheus series
    too unless a worker turned them off (see series_only_if_served()).
    ``queue`` labels ``taskqueue_dead_lettered_total``: pass the queue the
    message came from, since a Poison outcome carries no envelope ("unknown"
    otherwise). The other outcomes ignore it.
    """
    match outcome:
        case Succeeded(envelope=env, duration=duration):
            series = _for_task(env.task)
            _count_for_fleet(series.fleet["succeeded"])
            if _series_on:
                series.succeeded.inc()
                series.duration.observe(duration)
        case Failed(envelope=env, duration=duration):
            series = _for_task(env.task)
            _count_for_fleet(series.fleet["failed"])
            if _series_on:
                series.failed.inc()
                series.duration.observe(duration)
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
            status, _, task = field.partition(":")
            _fleet[(task, status)] = _fleet.get((task, status), 0) + n


class FleetCollector(Collector):
    """What every worker finished, by task and status, read from Redis on each scrape."""

    def __init__(self, backend: str = "default") -> None:
        self.alias = backend

    def describe(self) -> Iterable[Metric]:
        return [_fleet_family()]  # names only: no Redis at register()

    def collect(self) -> Iterable[Metric]:
        family = _fleet_family()
        backend: Any = task_backends[self.alias]
        try:
            totals = backend.broker.task_totals()
        except BrokerUnavailable:
            return []  # QueueCollector reports taskqueue_broker_up 0
        for field, count in sorted(totals.items()):
            status, _, task = field.partition(":")
            if status in STATUSES and task:
                family.add_metric([task, status], count)
        return [family]


def _fleet_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "taskqueue_fleet_tasks",
        "Tasks finished by all workers (from Redis), by task and status.",
        labels=["task", "status"],
    )


class QueueCollector(Collector):
    """Queue depths and live workers, read from Redis on every scrape.

    A scrape never fails because Redis is down: ``taskqueue_broker_up`` is 0
    and the Redis-backed series are left out.
    """

    def __init__(self, backend: str = "default") -> None:
        self.alias = backend

    def describe(self) -> Iterable[Metric]:
        # Names only: keeps registry.register() from reading Redis.
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        queues, workers, processes, up = _families()
        backend: Any = task_backends[self.alias]
        try:
            for name in backend.queue_names:
                stats = backend.broker.stats(name)
                for state in STATES:
                    queues.add_metric([name, state], getattr(stats, state))
            infos = backend.broker.workers()
        except BrokerUnavailable:
            log.warning(
                "Metrics scrape: Redis unavailable at %s", backend.broker.safe_url
            )
            up.add_metric([], 0)
            return [up]
        live = live_workers(infos, backend.config.worker_timeout)
        workers.add_metric([], len({name.split("/", 1)[0] for name in live}))
        processes.add_metric([], len(live))
        up.add_metric([], 1)
        return [queues, workers, processes, up]


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "taskqueue_queue_messages",
            "Messages in a queue by state (pending, in_flight, scheduled, dead).",
            labels=["queue", "state"],
        ),
        GaugeMetricFamily(
            "taskqueue_workers",
            "Workers (runworker processes, by name) with a fresh heartbeat.",
        ),
        GaugeMetricFamily(
            "taskqueue_worker_processes",
            "Heartbeat entries that are fresh: one per prefork child, else per worker.",
        ),
        GaugeMetricFamily(
            "taskqueue_broker_up", "1 when Redis answered this scrape, else 0."
        ),
    )


def live_workers(
    infos: dict[str, bytes], timeout: float, now: float | None = None
) -> list[str]:
    """Names in Broker.workers() whose heartbeat_at is within ``timeout`` seconds.

    Shared with ``workerhealth``: entries that are not valid JSON or have no
    heartbeat count as dead (a killed worker leaves its entry behind).
    """
    now = time.time() if now is None else now
    return [name for name, info in infos.items() if heartbeat_age(info, now) <= timeout]


def heartbeat_age(info: bytes, now: float) -> float:
    """Seconds since the entry's heartbeat_at (infinite when unreadable)."""
    try:
        beat = float(orjson.loads(info)["heartbeat_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return float("inf")
    return max(0.0, now - beat)


_serving = False  # this process serves /metrics (runworker --metrics-port)


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


@cache
def exposition_registry(backend: str = "default") -> CollectorRegistry:
    """The registry to serve: event series (merged across processes) + Redis state."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (*EVENT_METRICS, PROCESS_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    registry.register(QueueCollector(backend))
    registry.register(FleetCollector(backend))
    return registry


def render(backend: str = "default", accept: str | None = None) -> tuple[bytes, str]:
    """The exposition body and its content type (text format unless asked for more)."""
    encoder, content_type = exposition.choose_encoder(accept or "")
    return encoder(exposition_registry(backend)), content_type


def start_http_server(
    port: int,
    addr: str = "127.0.0.1",
    *,
    backend: str = "default",
) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics from a daemon thread (``runworker --metrics-port``).

    Loopback unless told otherwise (``--metrics-host``): the page is not
    authenticated. Returns the server and its thread; ``server.shutdown()``
    stops it. With the prefork pool call it in the parent, after
    ``use_multiprocess_dir()``.
    """
    global _serving
    _serving = True
    server, thread = exposition.start_http_server(
        port, addr, registry=exposition_registry(backend)
    )
    log.info("Metrics on http://%s:%d/metrics", addr, server.server_port)
    return server, thread


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics for a staff session or an API token (any active user's)."""
    if request.method not in ("GET", "HEAD"):
        response = _text(405, "Method not allowed; use GET\n")
        response["Allow"] = "GET, HEAD"
        return response
    try:
        user: Any = authenticate(request)
    except AuthFailure as exc:
        response = _text(exc.status, exc.message + "\n")
        if exc.status == 401:
            response["WWW-Authenticate"] = "Token"
        return response
    if "Authorization" not in request.headers and not user.is_staff:
        return _text(403, "Metrics are for staff users or API tokens\n")
    body, content_type = render(accept=request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain")
