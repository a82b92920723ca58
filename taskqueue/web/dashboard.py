"""The queue dashboard in the admin: counts, throughput, workers, results, dead letters.

The page renders its panels server-side; a small script re-fetches
``data/`` (JSON with the same panels as HTML plus the raw numbers) every few
seconds and swaps them in, so the page stays live without a full reload.
Recent results take ``?status=`` and ``?queue=`` filters; the script passes
the page's query string on to ``data/`` so a refresh keeps them.
Requeue and delete are plain POST forms (CSRF) that need the
``taskqueue.manage_queues`` permission; deleting and "all of a queue" go
through a confirmation page first.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from taskqueue.backends import RedisBackend, backend_for
from taskqueue.broker import Broker
from taskqueue.compat import TaskResultStatus
from taskqueue.connection import InvalidRedisURL, mask_url
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.outcomes import MINUTE_COUNTER, Failed, Poison, RetryLater, Succeeded
from taskqueue.results import ResultRecord, loads_or_none, timestamp
from taskqueue.web import visibility
from taskqueue.web.confirmation import confirmation_page, confirmed
from taskqueue.web.limits import limit_rows
from taskqueue.web.messages import back_url
from taskqueue.web.overview import queue_overview
from taskqueue.web.workers import worker_rows
from taskqueue.web.workflows import workflow_url

MANAGE_PERMISSION = "taskqueue.manage_queues"
MINUTES = 60
DEAD_LETTER_LIMIT = 50
RECENT_LIMIT = 50
RECENT_SCAN = 200  # the core caps each queue's recent list at 200 ids
STATUSES = [status.value for status in TaskResultStatus]
CHART_WIDTH, CHART_HEIGHT = 600, 120


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def throughput(broker: Broker, now: float | None = None) -> list[dict[str, Any]]:
    """Per-minute outcome counts for the last hour, oldest first."""
    current = int((now or time.time()) // 60)
    minutes = list(range(current - MINUTES + 1, current + 1))
    rows = broker.minute_counts(minutes)
    return [
        {
            "minute": _when(minute * 60.0),
            "succeeded": row.get(MINUTE_COUNTER[Succeeded], 0),
            "failed": row.get(MINUTE_COUNTER[Failed], 0)
            + row.get(MINUTE_COUNTER[Poison], 0),
            "retried": row.get(MINUTE_COUNTER[RetryLater], 0),
        }
        for minute, row in zip(minutes, rows, strict=True)
    ]


def chart_bars(points: list[dict[str, Any]]) -> dict[str, Any]:
    """SVG geometry for a stacked bar chart (succeeded under failed)."""
    peak = max((p["succeeded"] + p["failed"] for p in points), default=0) or 1
    width = CHART_WIDTH / max(len(points), 1)
    bars = []
    for i, point in enumerate(points):
        ok_h = CHART_HEIGHT * point["succeeded"] / peak
        bad_h = CHART_HEIGHT * point["failed"] / peak
        bars.append(
            {
                "x": round(i * width, 1),
                "ok_y": round(CHART_HEIGHT - ok_h, 1),
                "ok_h": round(ok_h, 1),
                "bad_y": round(CHART_HEIGHT - ok_h - bad_h, 1),
                "bad_h": round(bad_h, 1),
                "title": f"{point['minute']:%H:%M} UTC: {point['succeeded']} succeeded, "
                f"{point['failed']} failed, {point['retried']} retried",
            }
        )
    return {"bars": bars, "bar_width": round(width - 1, 1), "peak": peak,
            "width": CHART_WIDTH, "height": CHART_HEIGHT}  # fmt: skip


def dead_letter_row(dead_id: str, entry: bytes, queue: str) -> dict[str, Any]:
    """One dead letter as the dashboard shows it; an unreadable entry is marked."""
    info = loads_or_none(entry)
    if not isinstance(info, dict):
        return {"id": dead_id, "queue": queue, "at": None, "unreadable": True,
                "reason": "(unreadable dead-letter entry)", "preview": ""}  # fmt: skip
    return {
        **info,
        "id": dead_id,
        "queue": queue,
        "at": timestamp(info.get("at")),
    }


def dead_letters(
    backend: RedisBackend, limit: int = DEAD_LETTER_LIMIT
) -> list[dict[str, Any]]:
    """The newest dead letters of every queue, newest first."""
    rows = [
        dead_letter_row(dead_id, entry, queue)
        for queue in backend.queue_names
        for dead_id, entry, _raw in backend.broker.dead_letters(queue, limit)
    ]
    epoch = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda row: row["at"] or epoch, reverse=True)
    return rows[:limit]


def _duration_label(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 0.001:
        return f"{seconds * 1_000_000:.0f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def result_row(task_id: str, record: ResultRecord, queue: str) -> dict[str, Any]:
    """One settled task as the dashboard shows it, from its result record."""
    started, finished = _seconds(record.started_at), _seconds(record.finished_at)
    last = record.errors[-1] if record.errors else None
    status = record.status
    duration = (finished - started) if finished and started else None
    return {
        "id": task_id,
        "task": record.task_path or "",
        "queue": record.queue_name or queue,
        "status": status.value if status is not None else "(unreadable)",
        "settled_at": _when(finished or _seconds(record.last_attempted_at)),
        "duration": duration,
        "duration_label": _duration_label(duration),
        "error_class": (last.exception_class if last else None) or "",
        "error": last.text if last else "",
        "metadata": _metadata_label(record.metadata),
        "url": reverse("taskqueue_dashboard:task", kwargs={"task_id": task_id}),
        "workflow_url": workflow_url(record),
    }


def _metadata_label(metadata: dict[str, Any]) -> str:
    """A task's metadata (#141) in one short line: ``progress=40 stage="resize"``."""
    parts = [f"{key}={orjson.dumps(value).decode()}" for key, value in metadata.items()]
    label = " ".join(parts)
    return label if len(label) <= 120 else label[:119] + "…"


def _seconds(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


def recent_results(
    backend: RedisBackend,
    *,
    status: str | None = None,
    queue: str | None = None,
    limit: int = RECENT_LIMIT,
) -> list[dict[str, Any]]:
    """The newest settled tasks (one row per task), newest first, filtered.

    A retried task is in the recent list once per attempt; its record holds
    the latest state, so later ids are dropped. A status filter scans the
    whole capped list so rare outcomes (failures) still fill the table.
    """
    scan = RECENT_SCAN if status else limit
    rows, seen = [], set()
    for name in [queue] if queue else backend.queue_names:
        for task_id, record in backend.broker.recent_results(name, scan):
            if task_id in seen:
                continue
            seen.add(task_id)
            row = result_row(task_id, ResultRecord.parse(record), name)
            if status is None or row["status"] == status:
                rows.append(row)
    epoch = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda row: row["settled_at"] or epoch, reverse=True)
    return rows[:limit]


def result_filters(
    request: HttpRequest, backend: RedisBackend
) -> dict[str, str | None]:
    """The valid ``status`` and ``queue`` query parameters; anything else means all."""
    status = request.GET.get("status") or None
    queue = request.GET.get("queue") or None
    return {
        "status": status if status in STATUSES else None,
        "queue": queue if queue in backend.queue_names else None,
    }


def snapshot(
    backend: RedisBackend, filters: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """Everything the dashboard shows, read from Redis in a few round trips."""
    filters = filters or {}
    overview = queue_overview(backend)
    points = throughput(backend.broker)
    return {
        "queues": overview["queues"],
        "workers": worker_rows(backend, overview["workers"]),
        "throughput": points,
        "chart": chart_bars(points),
        "recent_results": recent_results(
            backend, status=filters.get("status"), queue=filters.get("queue")
        ),
        "dead_letters": dead_letters(backend),
        "limits": limit_rows(backend),
    }


def _context(request: HttpRequest) -> dict[str, Any]:
    backend = backend_for()
    filters = result_filters(request, backend)
    choices = {
        "filters": filters,
        "statuses": STATUSES,
        "queue_names": backend.queue_names,
    }
    try:
        data = snapshot(backend, filters)
    except BrokerUnavailable:
        where = mask_url(backend.config.redis_url)
        return {"error": f"Redis is unavailable ({where})", **choices}
    except InvalidRedisURL as exc:  # its message is masked already
        return {"error": str(exc), **choices}
    user: Any = request.user
    viewer = visibility.can_view(user)
    if not viewer:
        data = visibility.redacted(data)
    return {
        **data, **choices, "can_manage": user.has_perm(MANAGE_PERMISSION),
        "can_view": viewer,
    }  # fmt: skip


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    from django.contrib import admin

    context = {
        **admin.site.each_context(request),
        "title": "Queue dashboard",
        **_context(request),
    }
    from taskqueue.web.schedules import schedules_context  # it imports this module

    context.update(schedules_context(request))
    return TemplateResponse(request, "taskqueue/dashboard.html", context)


@require_GET
def dashboard_data(request: HttpRequest) -> JsonResponse:
    """The live panels as HTML plus the numbers, for the page's refresh script."""
    context = _context(request)
    html = render_to_string("taskqueue/dashboard_panels.html", context, request=request)
    recent = render_to_string(
        "taskqueue/dashboard_recent.html", context, request=request
    )
    keys = (
        "queues", "workers", "throughput", "recent_results", "filters", "error",
        "limits",
    )  # fmt: skip
    numbers = {k: context.get(k) for k in keys}
    return JsonResponse({"html": html, "recent_html": recent, **numbers})


@require_http_methods(["GET", "POST"])
def dead_letter_action(request: HttpRequest) -> HttpResponse:
    """Requeue or delete dead letters (by id, or all of a queue).

    Deleting, and anything done to all of a queue, first shows a
    confirmation page (taskqueue/web/confirmation.py) that says how many
    dead letters it touches; only its second POST acts. Requeueing the
    dead letters picked by id acts at once (nothing is lost).
    """
    user: Any = request.user
    if not user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied
    backend = backend_for()
    form = request.POST if request.method == "POST" else request.GET
    action = form.get("action")
    queue = form.get("queue", "")
    if action not in {"requeue", "delete"} or queue not in backend.queue_names:
        messages.error(request, "Unknown dead-letter action or queue.")
        return HttpResponseRedirect(reverse("taskqueue_dashboard:index"))
    everything = bool(form.get("all"))
    ids = list(dict.fromkeys(form.getlist("ids")))
    try:
        if (everything or action == "delete") and not confirmed(request):
            return _confirm_dead_letters(
                request, backend, action=action, queue=queue, ids=ids,
                everything=everything,
            )  # fmt: skip
        if everything:
            ids = backend.broker.dead_letter_ids(queue)
        done = backend.broker.dead_action(queue, action, ids)
    except BrokerUnavailable:
        messages.error(request, "Redis is unavailable; nothing was changed.")
    else:
        verb = "Requeued" if action == "requeue" else "Deleted"
        messages.success(request, f"{verb} {done} dead letter(s) of queue {queue}.")
    return HttpResponseRedirect(back_url(request, reverse("taskqueue_dashboard:index")))


def _confirm_dead_letters(
    request: HttpRequest, backend: RedisBackend, *, action: str, queue: str,
    ids: list[str], everything: bool,
) -> HttpResponse:  # fmt: skip
    """The confirmation page: how many dead letters the action would touch now."""
    given = back_url(request, "")  # a message page sends its own URL
    back = [("back", given)] if given else []
    verb = "requeue" if action == "requeue" else "delete for good"
    if everything:
        count = backend.broker.stats(queue).dead
        question = f"Are you sure you want to {verb} all dead letters of queue {queue}?"
        fields = [("action", action), ("queue", queue), ("all", "1"), *back]
    else:
        present = set(backend.broker.dead_letter_ids(queue))
        ids = [dead_id for dead_id in ids if dead_id in present]
        count = len(ids)
        question = f"Are you sure you want to {verb} these dead letters of queue {queue}: {_listed(ids)}?"
        fields = [
            ("action", action),
            ("queue", queue),
            *(("ids", i) for i in ids),
            *back,
        ]
    return confirmation_page(
        request, question=question, count=count, fields=fields,
        action_url=reverse("taskqueue_dashboard:dead-letters"),
    )  # fmt: skip


def _listed(ids: list[str], shown: int = 20) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
