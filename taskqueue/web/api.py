"""The task queue's JSON API views, mounted under /api/ (see taskqueue.web.openapi).

Each view is wrapped by ``taskqueue.web.endpoint.endpoint``: JSON in and
out, one error shape, times as ISO 8601 strings (UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import server_error as django_server_error

from taskqueue import enqueuer, registry, waiting
from taskqueue.backends import backend_for
from taskqueue.cancellation import cancel
from taskqueue.compat import TaskResultDoesNotExist, TaskResultStatus
from taskqueue.connection import InvalidRedisURL
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.results import ResultRecord
from taskqueue.web.endpoint import endpoint
from taskqueue.web.errors import ApiError, json_error
from taskqueue.web.openapi import SCHEMA
from taskqueue.web.overview import queue_overview, without_current_tasks

MAX_WAIT = 30  # seconds a GET /api/tasks/<id>/?wait= may hold its request
MANAGE_QUEUES = "taskqueue.manage_queues"


@endpoint("GET")
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    """The stored result, read field by field (an unreadable field is null).

    ``?wait=<seconds, 0..30>`` long-polls: the answer comes as soon as the
    task is finished, or after that many seconds with its state then.
    """
    backend = backend_for()
    seconds = _wait_seconds(request.GET.get("wait"))
    if not request.user.has_perm(enqueuer.VIEW_TASKS):
        _check_own(backend, task_id, request.user)  # before any wait
    if seconds:
        queue = waiting.find_queue(backend, task_id, None)
        if queue is not None:
            waiting.wait_until_final(backend.broker, queue, task_id, seconds=seconds)
    stored = backend.broker.result_record(task_id, backend.queue_names)
    if stored is None:
        raise ApiError(404, f"No task with id {task_id!r}")
    payload = describe(task_id, ResultRecord.parse(*stored))
    path = payload["task"]
    if path is not None and path not in registry.tasks(backend.config.task_modules):
        raise ApiError(404, f"No task with id {task_id!r} (task {path} is unknown)")
    return JsonResponse(payload)


def _check_own(backend: Any, task_id: str, user: Any) -> None:
    """404 for an unknown task, 403 for one the caller did not enqueue (docs/permissions.md)."""
    stored = backend.broker.result_record(task_id, backend.queue_names)
    if stored is None:
        raise ApiError(404, f"No task with id {task_id!r}")
    if not enqueuer.may_view(user, ResultRecord.parse(*stored).enqueued_by):
        raise ApiError(
            403,
            f"Permission {enqueuer.VIEW_TASKS!r} is required to see a task "
            "you did not enqueue",
        )


def _wait_seconds(raw: str | None) -> float:
    """The ``wait`` parameter: 0 when absent, else seconds from 0 to 30 (else a 400)."""
    if raw is None:
        return 0.0
    try:
        seconds = waiting.checked_timeout(float(raw))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT:
        raise ApiError(400, f"wait must be a number of seconds from 0 to {MAX_WAIT}")
    return seconds


def describe(task_id: str, record: ResultRecord) -> dict[str, Any]:
    """What GET /api/tasks/<id>/ shows of a stored record; never raises.

    Built from the record itself, not from a TaskResult, so that a record
    with a damaged message or status is still shown: each field that cannot
    be read is null (or empty), and ``unreadable`` names them.
    """
    status = record.status
    started_at, last_attempted_at = record.attempt_times()
    payload: dict[str, Any] = {
        "id": task_id,
        "task": record.task_path,
        "status": status.value if status is not None else None,
        "enqueued_at": _iso(record.enqueued_at),
        "started_at": _iso(started_at),
        "finished_at": _iso(record.finished_at),
        "last_attempted_at": _iso(last_attempted_at),
        "attempts": len(record.worker_ids),
        "args": record.args,
        "kwargs": record.kwargs,
        "metadata": record.metadata,
        "enqueued_by": record.enqueued_by,
    }
    if status == TaskResultStatus.SUCCESSFUL and record.has_return:
        payload["return_value"] = record.return_value
    payload["errors"] = [
        {
            "exception": {"class": e.exception_class, "args": e.args, "str": e.text},
            "traceback": e.traceback,
        }
        for e in record.errors
    ]
    schedule = record.schedule
    if schedule is not None:  # a run fired by a schedule (docs/schedules.md)
        payload["schedule"] = {**schedule, "tick": _iso(schedule["tick"])}
    unreadable = record.unreadable
    if record.cancel is not None:
        payload["cancel"] = record.cancel
    if unreadable:
        payload["unreadable"] = unreadable
    return payload


@endpoint("POST", permission=MANAGE_QUEUES)
def task_cancel(request: HttpRequest, task_id: str) -> HttpResponse:
    """Cancel a task: 200 when done, 409 when it had finished, 404 when unknown."""
    terminate = request.GET.get("terminate", "0")
    if terminate not in ("0", "1"):
        raise ApiError(400, "terminate must be 0 or 1")
    try:
        cancelled = cancel(task_id, terminate=terminate == "1")
    except ValueError:
        raise ApiError(400, f"{task_id[:80]!r} is not a task id") from None
    except TaskResultDoesNotExist:
        raise ApiError(404, f"No task with id {task_id!r}") from None
    if not cancelled:
        raise ApiError(409, f"Task {task_id!r} has already finished")
    return JsonResponse({"task_id": task_id, "cancelled": True})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@endpoint("GET")
def queues(request: HttpRequest) -> HttpResponse:
    """Queues and workers; a worker's current tasks only for ``view_tasks`` holders."""
    overview = queue_overview(backend_for())
    if not request.user.has_perm(enqueuer.VIEW_TASKS):
        overview = without_current_tasks(overview)
    return JsonResponse(overview)


@endpoint("GET", public=True)
def schema(request: HttpRequest) -> HttpResponse:
    return JsonResponse(SCHEMA)


@endpoint("GET", public=True)
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database and Redis answer; 503 naming what is down."""
    checks = {"database": "ok", "redis": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        backend_for().broker.ping()
    except BrokerUnavailable:
        checks["redis"] = "down: unreachable"
    except InvalidRedisURL:
        checks["redis"] = "down: REDIS_URL is malformed"
    down = [name for name, state in checks.items() if state != "ok"]
    return JsonResponse(checks, status=503 if down else 200)


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/: a JSON 404 instead of Django's HTML page."""
    return json_error(404, f"No API endpoint at {request.path}")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, Django's own 500 page everywhere else."""
    if request.path.startswith("/api/"):
        return json_error(500, "Internal server error; the error has been logged")
    return django_server_error(request)
