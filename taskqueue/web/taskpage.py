"""The admin's task page: everything the result record says about one task.

``tasks/<id>/`` under the dashboard (staff only, as the dashboard is):
path, queue, priority, status, arguments, return value, metadata, each
attempt (worker, start, finish, duration, error and traceback), the
enqueue → start → finish timeline, and links to its workflow, schedule,
retries and dead letter. It reads the record only through ResultRecord,
so a damaged record still renders (the unreadable fields are named); an
unknown or expired id is a 404 page, Redis down a 503 page that says so.
The actions (Retry, Cancel, Requeue) are forms posting to
taskqueue/web/taskpage_actions.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from taskqueue import enqueuer
from taskqueue.backends import RedisBackend, backend_for
from taskqueue.compat import TaskResultStatus
from taskqueue.connection import InvalidRedisURL, mask_url
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.manual_retry import FINISHED
from taskqueue.protocol import ID_RE
from taskqueue.results import ResultRecord, StoredError
from taskqueue.web.controls import MANAGE_PERMISSION
from taskqueue.web.workflows import workflow_url

TEMPLATE = "taskqueue/task_page.html"
UNFINISHED = {TaskResultStatus.READY, TaskResultStatus.RUNNING}


def task_url(task_id: str) -> str:
    """The task page of an id (the dashboard's links)."""
    return reverse("taskqueue_dashboard:task", kwargs={"task_id": task_id})


@require_GET
def task_page(request: HttpRequest, task_id: str) -> HttpResponse:
    """The page; 404 for an unknown or expired id, 503 when Redis is unavailable."""
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": f"Task {task_id[:80]}",
        "task_id": task_id,
    }
    backend = backend_for()
    try:
        stored = _stored(backend, task_id)
        if stored is None:
            context["missing"] = True
            return TemplateResponse(request, TEMPLATE, context, status=404)
        record = ResultRecord.parse(*stored)
        context.update(describe(backend, task_id, record))
        if not enqueuer.may_view(request.user, record.enqueued_by):
            context.update(hidden(context))
    except BrokerUnavailable:
        where = mask_url(backend.config.redis_url)
        context["error"] = f"Redis is unavailable ({where}); the task cannot be read."
        return TemplateResponse(request, TEMPLATE, context, status=503)
    except InvalidRedisURL as exc:  # its message is masked already
        context["error"] = str(exc)
        return TemplateResponse(request, TEMPLATE, context, status=503)
    user: Any = request.user
    context["can_manage"] = user.has_perm(MANAGE_PERMISSION)
    return TemplateResponse(request, TEMPLATE, context)


def _stored(backend: RedisBackend, task_id: str) -> Any:
    if not ID_RE.fullmatch(task_id):
        return None
    return backend.broker.result_record(task_id, backend.queue_names)


def describe(
    backend: RedisBackend, task_id: str, record: ResultRecord
) -> dict[str, Any]:
    """What the page shows of a record (never raises on a damaged one)."""
    status = record.status
    started, _last = record.attempt_times()
    return {
        "record": record,
        "status": status.value if status is not None else "(unreadable)",
        "unreadable": record.unreadable,
        "args_json": _pretty(record.args),
        "kwargs_json": _pretty(record.kwargs),
        "return_json": _pretty(record.return_value) if record.has_return else None,
        "metadata_json": _pretty(record.metadata) if record.metadata else None,
        "attempts": attempts(record),
        "other_errors": [e for e in record.errors if e.attempt is None],
        "timeline": timeline(record.enqueued_at, started, record.finished_at),
        "workflow_url": workflow_url(record),
        "schedule": record.schedule,
        "retry_of": _link(record.retry_of),
        "retried_as": [_link(i) for i in record.retried_as],
        "dead_letter": _dead_letter(backend, record),
        "can_cancel": status in UNFINISHED,
        "can_retry": status in FINISHED,
    }


def hidden(shown: dict[str, Any]) -> dict[str, Any]:
    """What replaces a task's contents for a user without ``view_tasks``
    (docs/permissions.md): its path, status, times and ids stay; its
    arguments, return value, metadata, error messages and tracebacks go."""
    return {
        "contents_hidden": True,
        "args_json": None, "kwargs_json": None, "return_json": None,
        "metadata_json": None, "other_errors": [],
        "attempts": [
            {**a, "error": a["error"] and replace(a["error"], args=[], text="", traceback="")}
            for a in shown["attempts"]
        ],
    }  # fmt: skip


def attempts(record: ResultRecord) -> list[dict[str, Any]]:
    """One row per attempt: finished ones from ``worker:<n>``, then the running one.

    A record written before attempts kept their span knows only the first
    attempt's start and the last one's start and finish.
    """
    errors = {e.attempt: e for e in record.errors if e.attempt is not None}
    count = len(record.finished_by)
    finished = record.status not in UNFINISHED
    rows = []
    for number, (worker, span) in enumerate(
        zip(record.finished_by, record.spans, strict=True), start=1
    ):
        start, finish = span
        if start is None:  # written before attempts kept their span
            start = _known_start(record, number, count)
        if finish is None and number == count and finished:
            finish = record.finished_at
        rows.append(_attempt(number, worker, start=start, finish=finish,
                             error=errors.get(number)))  # fmt: skip
    if record.status == TaskResultStatus.RUNNING and record.running_on is not None:
        rows.append(_attempt(count + 1, record.running_on, running=True,
                             start=record.last_attempted_at, finish=None, error=None))  # fmt: skip
    return rows


def _known_start(record: ResultRecord, number: int, count: int) -> datetime | None:
    if number == 1:
        return record.started_at
    return record.last_attempted_at if number == count else None


def _attempt(
    number: int, worker: str, *, start: datetime | None, finish: datetime | None,
    error: StoredError | None, running: bool = False,
) -> dict[str, Any]:  # fmt: skip
    return {
        "number": number,
        "worker": worker,
        "start": start,
        "finish": finish,
        "duration": _seconds_label(start, finish),
        "error": error,
        "running": running,
    }


def timeline(
    enqueued: datetime | None, started: datetime | None, finished: datetime | None
) -> list[dict[str, Any]]:
    """Enqueued → started → finished, each with the time since the step before."""
    steps, before = [], None
    for label, when in (
        ("Enqueued", enqueued),
        ("Started", started),
        ("Finished", finished),
    ):
        steps.append(
            {"label": label, "at": when, "after": _seconds_label(before, when)}
        )
        before = when or before
    return steps


def _seconds_label(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _pretty(value: Any) -> str:
    return orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    ).decode()


def _link(task_id: str | None) -> dict[str, str] | None:
    if task_id is None or not ID_RE.fullmatch(task_id):
        return None  # anyone can write to Redis: only an id a URL can hold is linked
    return {"id": task_id, "url": task_url(task_id)}


def _dead_letter(backend: RedisBackend, record: ResultRecord) -> dict[str, str] | None:
    """The dead letter still holding the task's message, if it was dead-lettered."""
    queue = record.queue_name
    dead_ids = [e.dead_id for e in record.errors if e.dead_id]
    if not dead_ids or queue is None or queue not in backend.queue_names:
        return None
    if not backend.broker.has_dead_letter(queue, dead_ids[-1]):
        return None
    return {"id": dead_ids[-1], "queue": queue}
