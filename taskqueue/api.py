"""The JSON API: plain Django views, JSON in and out, errors via json_error().

Every response under /api/ is JSON: views are wrapped by ``endpoint``, which
answers 405, 401/403 (auth and CSRF), 503 (Redis down) and the ApiError a view
raises with one body shape: ``{"error": "<message>", "status": <code>}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from taskqueue import results
from taskqueue.auth import AuthFailure, authenticate, require_permission
from taskqueue.compat import (
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
)
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.openapi import SCHEMA

View = Callable[..., HttpResponse]
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    """Raised by a view to answer ``status`` with a JSON error message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_error(status: int, message: str) -> JsonResponse:
    """The one error body of the API: a human message and the status code."""
    return JsonResponse({"error": message, "status": status}, status=status)


def _guard(
    request: HttpRequest,
    allowed: tuple[str, ...],
    *,
    permission: str | None,
    public: bool,
) -> None:
    if request.method not in allowed:
        raise ApiError(
            405, f"Method {request.method} not allowed; use {', '.join(allowed)}"
        )
    if public:
        return
    user = authenticate(request)
    if permission:
        require_permission(user, permission)


def endpoint(
    *methods: str, permission: str | None = None, public: bool = False
) -> Callable[[View], View]:
    """Wrap an API view: method check, auth, CSRF and errors, all answered as JSON."""
    allowed = tuple(methods) + (("HEAD",) if "GET" in methods else ())

    def decorate(view: View) -> View:
        @csrf_exempt  # checked by authenticate() for sessions, answering JSON
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                _guard(request, allowed, permission=permission, public=public)
                return view(request, *args, **kwargs)
            except (ApiError, AuthFailure) as exc:
                response = json_error(exc.status, exc.message)
                if exc.status == 405:
                    response["Allow"] = ", ".join(allowed)
                elif exc.status == 401:
                    response["WWW-Authenticate"] = "Token"
                return response
            except BrokerUnavailable:
                return json_error(
                    503, "The task queue (Redis) is unavailable; try again later"
                )

        return wrapper

    return decorate


def max_body_bytes() -> int:
    return int(getattr(settings, "TASKQUEUE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def read_json(request: HttpRequest) -> Any:
    """The request's JSON body; ApiError 413 past the limit, 415 if not JSON."""
    limit = max_body_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "Content-Length is not a number") from None
    if declared > limit:
        raise ApiError(413, f"Request body is over the {limit}-byte limit")
    if request.content_type != "application/json":
        raise ApiError(415, "Send the body as application/json")
    body = request.read(limit + 1)  # bounded even when Content-Length lies
    if len(body) > limit:
        raise ApiError(413, f"Request body is over the {limit}-byte limit")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(415, "The request body is not valid JSON") from None


def accepted(request: HttpRequest, result: TaskResult[Any]) -> JsonResponse:
    """202 for an enqueued task, pointing at its status URL."""
    url = request.build_absolute_uri(reverse("taskqueue:task-detail", args=[result.id]))
    response = JsonResponse({"task_id": result.id, "status_url": url}, status=202)
    response["Location"] = url
    return response


def _backend() -> Any:
    return task_backends["default"]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def result_payload(
    result: TaskResult[Any], record: dict[bytes, bytes]
) -> dict[str, Any]:
    """What GET /api/tasks/<id>/ shows of a result (and its raw record)."""
    payload: dict[str, Any] = {
        "id": result.id,
        "task": result.task.module_path,
        "status": str(result.status),
        "enqueued_at": _iso(result.enqueued_at),
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "last_attempted_at": _iso(result.last_attempted_at),
        "attempts": result.attempts,
        "args": result.args,
        "kwargs": result.kwargs,
    }
    if result.status == TaskResultStatus.SUCCESSFUL and b"return" in record:
        payload["return_value"] = orjson.loads(record[b"return"])
    payload["errors"] = [
        {
            "exception": {"class": e["class"], "args": e["args"], "str": e["str"]},
            "traceback": e.get("traceback", ""),
        }
        for e in results.errors(record)
    ]
    return payload


@endpoint("GET")
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    backend = _backend()
    try:
        result = backend.get_result(task_id)
    except TaskResultDoesNotExist:
        raise ApiError(404, f"No task with id {task_id!r}") from None
    record = backend.broker.result_record(task_id, backend.queue_names) or {}
    return JsonResponse(result_payload(result, record))


def queue_overview(backend: Any = None) -> dict[str, Any]:
    """Counts per queue and live workers: GET /api/queues/ and ``queuestats``."""
    backend = backend or _backend()
    broker = backend.broker
    queues = [broker.stats(name).as_dict() for name in backend.queue_names]
    workers = [orjson.loads(info) for _, info in sorted(broker.workers().items())]
    return {"queues": queues, "workers": workers}


@endpoint("GET")
def queues(request: HttpRequest) -> HttpResponse:
    return JsonResponse(queue_overview())


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
        _backend().broker.ping()
    except BrokerUnavailable:
        checks["redis"] = "down: unreachable"
    down = [name for name, state in checks.items() if state != "ok"]
    return JsonResponse(checks, status=503 if down else 200)


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/: a JSON 404 instead of Django's HTML page."""
    return json_error(404, f"No API endpoint at {request.path}")
