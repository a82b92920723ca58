"""The JSON API: plain Django views, JSON in and out, errors via json_error().

Every response under /api/ is JSON: views are wrapped by ``endpoint``, which
answers 405, 411/413 (body), 401/403 (auth and CSRF), 503 (Redis down), 500
(anything unexpected, logged once) and the ApiError a view raises with one
body shape: ``{"error": "<message>", "status": <code>}``. Times are ISO 8601
strings (UTC) everywhere.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import server_error as django_server_error

from taskqueue import registry, results
from taskqueue.auth import AuthFailure, authenticate, require_permission
from taskqueue.compat import TaskResult, task_backends
from taskqueue.connection import InvalidRedisURL
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.openapi import SCHEMA

View = Callable[..., HttpResponse]
DEFAULT_MAX_BODY_BYTES = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
log = logging.getLogger("taskqueue.api")


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
    if request.method in BODY_METHODS:
        check_body_size(request)
    if public:
        return
    user = authenticate(request)
    if permission:
        require_permission(user, permission)


def _unexpected(request: HttpRequest, exc: Exception) -> JsonResponse:
    """The JSON 500: logged here, once, with the traceback."""
    log.error(
        "Unexpected error answering %s %s",
        request.method,
        request.path,
        exc_info=exc,
    )
    response = json_error(500, "Internal server error; the error has been logged")
    # Django's handler would log the 500 again, without the traceback.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def endpoint(
    *methods: str, permission: str | None = None, public: bool = False
) -> Callable[[View], View]:
    """Wrap an API view: method check, body limits, auth, CSRF and errors, as JSON."""
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
            except Exception as exc:  # noqa: BLE001 - the API's boundary: 500 is JSON
                return _unexpected(request, exc)

        return wrapper

    return decorate


def max_body_bytes() -> int:
    return int(getattr(settings, "TASKQUEUE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body is over the {limit}-byte limit")


def check_body_size(request: HttpRequest) -> None:
    """ApiError 411 for a body without a length, 413 for one declared too large.

    A chunked body (``Transfer-Encoding`` without ``Content-Length``) is
    refused with 411 rather than read: behind a WSGI server that does not
    de-chunk (runserver does not), Django would see it as empty.
    """
    length = request.META.get("CONTENT_LENGTH")
    if not length:
        if request.META.get("HTTP_TRANSFER_ENCODING"):
            raise ApiError(411, "Send the body with a Content-Length (not chunked)")
        return
    try:
        declared = int(length)
    except ValueError:
        raise ApiError(400, "Content-Length is not a number") from None
    if declared > max_body_bytes():
        raise _too_large(max_body_bytes())


def read_json(request: HttpRequest) -> Any:
    """The request's JSON body; ApiError 413 past the limit, 415/400 if not JSON."""
    limit = max_body_bytes()
    check_body_size(request)
    if request.content_type != "application/json":
        raise ApiError(415, "Send the body as application/json")
    body = request.read(limit + 1)  # bounded even when Content-Length lies
    if len(body) > limit:
        raise _too_large(limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from None


def accepted(request: HttpRequest, result: TaskResult[Any]) -> JsonResponse:
    """202 for an enqueued task, pointing at its status URL."""
    url = request.build_absolute_uri(reverse("taskqueue:task-detail", args=[result.id]))
    response = JsonResponse({"task_id": result.id, "status_url": url}, status=202)
    response["Location"] = url
    return response


def _backend() -> Any:
    return task_backends["default"]


@endpoint("GET")
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    """The stored result, read field by field (an unreadable field is null)."""
    backend = _backend()
    record = backend.broker.result_record(task_id, backend.queue_names)
    if not record:
        raise ApiError(404, f"No task with id {task_id!r}")
    payload = results.describe(task_id, record)
    path = payload["task"]
    if path is not None and path not in registry.tasks(backend.config.task_modules):
        raise ApiError(404, f"No task with id {task_id!r} (task {path} is unknown)")
    return JsonResponse(payload)


WORKER_FIELDS: dict[str, type] = {
    "name": str, "host": str, "pid": int, "processed": int,
    "queues": list, "current": list, "consumers": list,
}  # fmt: skip
WORKER_TIMES = ("started_at", "heartbeat_at")


def _well_typed(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return kind is not list or all(isinstance(item, str) for item in value)


def worker_entry(key: str, raw: bytes) -> dict[str, Any]:
    """One entry of the workers hash as the API shows it; never raises.

    Anyone can write to Redis, so each known field is type-checked: a bad
    one is shown as null and named in ``unreadable``; an entry that is not
    a JSON object is just its name and ``"unreadable": ["entry"]``. Times
    are ISO 8601.
    """
    value = results.loads_or_none(raw)
    if not isinstance(value, dict):
        return {"name": key, "unreadable": ["entry"]}
    entry: dict[str, Any] = {"name": key, **value}
    bad = []
    for field, kind in WORKER_FIELDS.items():
        if field in entry and not _well_typed(entry[field], kind):
            entry[field] = key if field == "name" else None
            bad.append(field)
    for field in WORKER_TIMES:
        if field in entry:
            shown = results.iso(entry[field])
            if shown is None and entry[field] is not None:
                bad.append(field)
            entry[field] = shown
    if bad:
        entry["unreadable"] = bad
    return entry


def queue_overview(backend: Any = None) -> dict[str, Any]:
    """Counts per queue and live workers: GET /api/queues/ and ``queuestats``."""
    backend = backend or _backend()
    broker = backend.broker
    queues = [broker.stats(name).as_dict() for name in backend.queue_names]
    workers = [worker_entry(k, info) for k, info in sorted(broker.workers().items())]
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
