"""Prometheus metrics, the serving side: the exposition, its collectors, /metrics.

What is served (``taskqueue.metrics`` records the event series):

- the event series of this process, or merged from the
  ``PROMETHEUS_MULTIPROC_DIR`` files of a prefork worker's children;
- state series, read from Redis at scrape time by ``QueueCollector`` (so any
  process can serve them and they are never out of date):
  ``taskqueue_queue_messages{queue,state}`` (pending | in_flight | scheduled |
  dead), ``taskqueue_workers`` (live worker names), ``taskqueue_worker_processes``
  (live heartbeat entries: one per prefork child) and ``taskqueue_broker_up``;
- fleet series, read from Redis at scrape time by ``FleetCollector``:
  ``taskqueue_fleet_tasks_total{task,status}``, what every worker finished
  (same statuses as ``taskqueue_tasks_total``). Every endpoint serves the
  same values: do not sum them across endpoints.
- schedule series, read from the schedules' state hashes by
  ``ScheduleCollector``: ``taskqueue_schedule_fired_total{schedule}`` and
  ``taskqueue_schedule_skipped_total{schedule,reason}`` (overlap | paused |
  missed), counted by the fire script (so once per tick, fleet-wide).

The site serves them at ``/metrics`` (``metrics_view``, staff or token);
``runworker --metrics-port`` from a thread (``start_http_server``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import cache
from typing import Any
from wsgiref.simple_server import WSGIServer

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    GC_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    exposition,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taskqueue import metrics, schedule_status
from taskqueue.backends import backend_for
from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.firing import configured
from taskqueue.metrics import STATUSES, fleet_field_parts
from taskqueue.web.auth import authenticate
from taskqueue.web.errors import AuthFailure
from taskqueue.web.overview import live_workers

log = logging.getLogger("taskqueue.metrics")

STATES = ("pending", "in_flight", "scheduled", "dead")
SKIP_REASONS = ("overlap", "paused", "missed")


class FleetCollector(Collector):
    """What every worker finished, by task and status, read from Redis on each scrape."""

    def __init__(self, backend: str = DEFAULT_TASK_BACKEND_ALIAS) -> None:
        self.alias = backend

    def describe(self) -> Iterable[Metric]:
        return [_fleet_family()]  # names only: no Redis at register()

    def collect(self) -> Iterable[Metric]:
        family = _fleet_family()
        backend = backend_for(self.alias)
        try:
            totals = backend.broker.task_totals()
        except BrokerUnavailable:
            return []  # QueueCollector reports taskqueue_broker_up 0
        for field, count in sorted(totals.items()):
            status, task = fleet_field_parts(field)
            if status in STATUSES and task:
                family.add_metric([task, status], count)
        return [family]


def _fleet_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "taskqueue_fleet_tasks",
        "Tasks finished by all workers (from Redis), by task and status.",
        labels=["task", "status"],
    )


class ScheduleCollector(Collector):
    """Each schedule's ticks fired and skipped (by reason), from its state hash.

    Counted by the fire script itself, so every scrape of any process sees
    the fleet's counts; with no schedules a scrape reads nothing from Redis.
    """

    def __init__(self, backend: str = DEFAULT_TASK_BACKEND_ALIAS) -> None:
        self.alias = backend

    def describe(self) -> Iterable[Metric]:
        return list(_schedule_families())

    def collect(self) -> Iterable[Metric]:
        fired, skipped = _schedule_families()
        backend = backend_for(self.alias)
        try:
            entries = configured(backend)
            found = schedule_status.states(backend, entries) if entries else []
        except BrokerUnavailable:
            return []  # QueueCollector reports taskqueue_broker_up 0
        except ImproperlyConfigured as exc:
            log.warning("Metrics scrape: bad schedules: %s", exc)
            return []
        for (schedule, _), state in zip(entries, found, strict=True):
            fired.add_metric([schedule.name], state.counts["fired"])
            for reason in SKIP_REASONS:
                skipped.add_metric(
                    [schedule.name, reason], state.counts[f"skipped:{reason}"]
                )
        return [fired, skipped]


def _schedule_families() -> tuple[CounterMetricFamily, CounterMetricFamily]:
    return (
        CounterMetricFamily(
            "taskqueue_schedule_fired",
            "Runs a schedule enqueued (its ticks, catch-up and manual runs).",
            labels=["schedule"],
        ),
        CounterMetricFamily(
            "taskqueue_schedule_skipped",
            "Ticks of a schedule not run, by reason (overlap, paused, missed).",
            labels=["schedule", "reason"],
        ),
    )


class QueueCollector(Collector):
    """Queue depths and live workers, read from Redis on every scrape.

    A scrape never fails because Redis is down: ``taskqueue_broker_up`` is 0
    and the Redis-backed series are left out.
    """

    def __init__(self, backend: str = DEFAULT_TASK_BACKEND_ALIAS) -> None:
        self.alias = backend

    def describe(self) -> Iterable[Metric]:
        # Names only: keeps registry.register() from reading Redis.
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        queues, workers, processes, up = _families()
        backend = backend_for(self.alias)
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


@cache
def exposition_registry(backend: str = DEFAULT_TASK_BACKEND_ALIAS) -> CollectorRegistry:
    """The registry to serve: event series (merged across processes) + Redis state."""
    registry = CollectorRegistry()
    if metrics.multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (*metrics.EVENT_METRICS, PROCESS_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    registry.register(QueueCollector(backend))
    registry.register(FleetCollector(backend))
    registry.register(ScheduleCollector(backend))
    return registry


def render(
    backend: str = DEFAULT_TASK_BACKEND_ALIAS, accept: str | None = None
) -> tuple[bytes, str]:
    """The exposition body and its content type (text format unless asked for more)."""
    encoder, content_type = exposition.choose_encoder(accept or "")
    return encoder(exposition_registry(backend)), content_type


def start_http_server(
    port: int,
    addr: str = "127.0.0.1",
    *,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics from a daemon thread (``runworker --metrics-port``).

    Loopback unless told otherwise (``--metrics-host``): the page is not
    authenticated. Returns the server and its thread; ``server.shutdown()``
    stops it. With the prefork pool call it in the parent, after
    ``use_multiprocess_dir()``.
    """
    metrics.mark_served()
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
