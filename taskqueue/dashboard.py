"""The queue dashboard in the admin: counts, throughput, workers, dead letters.

The page renders its panels server-side; a small script re-fetches
``data/`` (JSON with the same panels as HTML plus the raw numbers) every few
seconds and swaps them in, so the page stays live without a full reload.
Requeue and delete are plain POST forms (CSRF) that need the
``taskqueue.manage_queues`` permission.
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
from django.views.decorators.http import require_GET, require_POST

from taskqueue.api import queue_overview
from taskqueue.compat import task_backends
from taskqueue.exceptions import BrokerUnavailable

MANAGE_PERMISSION = "taskqueue.manage_queues"
MINUTES = 60
DEAD_LETTER_LIMIT = 50
CHART_WIDTH, CHART_HEIGHT = 600, 120


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def throughput(broker: Any, now: float | None = None) -> list[dict[str, Any]]:
    """Per-minute outcome counts for the last hour, oldest first."""
    current = int((now or time.time()) // 60)
    minutes = list(range(current - MINUTES + 1, current + 1))
    rows = broker.minute_counts(minutes)
    return [
        {
            "minute": _when(minute * 60.0),
            "succeeded": row.get("succeeded", 0),
            "failed": row.get("failed", 0) + row.get("poison", 0),
            "retried": row.get("retrylater", 0),
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


def dead_letters(backend: Any, limit: int = DEAD_LETTER_LIMIT) -> list[dict[str, Any]]:
    """The newest dead letters of every queue, newest first."""
    rows = []
    for queue in backend.queue_names:
        for dead_id, entry, _raw in backend.broker.dead_letters(queue, limit):
            info = orjson.loads(entry)
            rows.append(
                {**info, "id": dead_id, "queue": queue, "at": _when(info.get("at"))}
            )
    epoch = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda row: row["at"] or epoch, reverse=True)
    return rows[:limit]


def _workers(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {
            **w,
            "started": _when(w.get("started_at")),
            "heartbeat_age": round(now - float(w.get("heartbeat_at") or now), 1),
        }
        for w in workers
    ]


def snapshot(backend: Any) -> dict[str, Any]:
    """Everything the dashboard shows, read from Redis in a few round trips."""
    overview = queue_overview(backend)
    points = throughput(backend.broker)
    return {
        "queues": overview["queues"],
        "workers": _workers(overview["workers"]),
        "throughput": points,
        "chart": chart_bars(points),
        "dead_letters": dead_letters(backend),
    }


def _context(request: HttpRequest) -> dict[str, Any]:
    backend: Any = task_backends["default"]
    try:
        data = snapshot(backend)
    except BrokerUnavailable:
        return {"error": f"Redis is unavailable ({backend.broker.safe_url})"}
    user: Any = request.user
    return {**data, "can_manage": user.has_perm(MANAGE_PERMISSION)}


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    from django.contrib import admin

    context = {
        **admin.site.each_context(request),
        "title": "Queue dashboard",
        **_context(request),
    }
    return TemplateResponse(request, "taskqueue/dashboard.html", context)


@require_GET
def dashboard_data(request: HttpRequest) -> JsonResponse:
    """The live panels as HTML plus the numbers, for the page's refresh script."""
    context = _context(request)
    html = render_to_string("taskqueue/dashboard_panels.html", context, request=request)
    numbers = {k: context.get(k) for k in ("queues", "workers", "throughput", "error")}
    return JsonResponse({"html": html, **numbers})


@require_POST
def dead_letter_action(request: HttpRequest) -> HttpResponse:
    """Requeue or delete dead letters (by id, or all of a queue)."""
    user: Any = request.user
    if not user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied
    backend: Any = task_backends["default"]
    action = request.POST.get("action")
    queue = request.POST.get("queue", "")
    if action not in {"requeue", "delete"} or queue not in backend.queue_names:
        messages.error(request, "Unknown dead-letter action or queue.")
        return HttpResponseRedirect(reverse("taskqueue_dashboard:index"))
    try:
        ids = request.POST.getlist("ids")
        if request.POST.get("all"):
            ids = backend.broker.dead_letter_ids(queue)
        done = backend.broker.dead_action(queue, action, ids)
    except BrokerUnavailable:
        messages.error(request, "Redis is unavailable; nothing was changed.")
    else:
        verb = "Requeued" if action == "requeue" else "Deleted"
        messages.success(request, f"{verb} {done} dead letter(s) of queue {queue}.")
    return HttpResponseRedirect(reverse("taskqueue_dashboard:index"))
