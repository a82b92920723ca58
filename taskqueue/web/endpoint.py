"""How an API view is wrapped: JSON in and out, errors via json_error().

Every response under /api/ is JSON: views are wrapped by ``endpoint``, which
answers 405, 411/413 (body), 401/403 (auth and CSRF), 503 (Redis down), 500
(anything unexpected, logged once) and the ApiError a view raises with one
body shape: ``{"error": "<message>", "status": <code>}``. Times are ISO 8601
strings (UTC) everywhere. The recipe app's views use it too.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import split_domain_port, validate_host
from django.urls import get_script_prefix, reverse
from django.views.decorators.csrf import csrf_exempt

from taskqueue import enqueuer
from taskqueue.compat import TaskResult
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.web.auth import authenticate, require_permission
from taskqueue.web.errors import ApiError, json_error

View = Callable[..., HttpResponse]
DEFAULT_MAX_BODY_BYTES = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
log = logging.getLogger("taskqueue.api")


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
                with enqueuer.acting_for(getattr(request, "user", None)):
                    return view(request, *args, **kwargs)
            except ApiError as exc:  # AuthFailure too
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


@functools.cache
def max_body_bytes() -> int:
    """TASKQUEUE_MAX_BODY_BYTES, read once per change of the settings (a getattr
    with a default raises inside LazySettings at every call when it is unset)."""
    return int(getattr(settings, "TASKQUEUE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting == "TASKQUEUE_MAX_BODY_BYTES":
        max_body_bytes.cache_clear()


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


def accepted(request: HttpRequest, result: TaskResult[Any]) -> HttpResponse:
    """202 for an enqueued task, pointing at its status URL.

    The enqueue endpoints' answer: the status path is put together from
    one reverse() per URLconf and script prefix (a reverse per request cost
    as much as the enqueue's Redis round trip; bench/load_api.py).
    """
    urlconf = getattr(request, "urlconf", None)  # set by middleware, if any
    path = task_detail_path(result.id, urlconf)
    if path.isascii() and _PLAIN_PATH.fullmatch(path):  # iri_to_uri would keep it
        url = f"{request.scheme}://{request_host(request)}{path}"
    else:
        url = request.build_absolute_uri(path)
    body = orjson.dumps({"task_id": result.id, "status_url": url})
    response = HttpResponse(body, status=202, content_type="application/json")
    response["Location"] = url
    return response


def request_host(request: HttpRequest) -> str:
    """``request.get_host()``, its ALLOWED_HOSTS check made once per Host value.

    Django checks at every call, and CommonMiddleware has already called it
    for this request: the second check cost a token request about 10 µs.
    A host that is not allowed goes through get_host(), which raises
    DisallowedHost as it always did.
    """
    raw: str = request._get_raw_host()  # type: ignore[attr-defined]  # get_host()'s first step
    if _host_allowed(raw, tuple(settings.ALLOWED_HOSTS), settings.DEBUG):
        return raw
    return request.get_host()


@functools.lru_cache(maxsize=256)
def _host_allowed(host: str, allowed_hosts: tuple[str, ...], debug: bool) -> bool:
    """get_host()'s check (Django 5.2 and 6), for one Host and one set of settings."""
    if debug and not allowed_hosts:
        allowed_hosts = (".localhost", "127.0.0.1", "[::1]")
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts)


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")  # needs no quoting in a path
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_.~/-]*")


def task_detail_path(task_id: str, urlconf: str | None = None) -> str:
    """reverse("taskqueue:task-detail", args=[task_id]), without the resolver's
    work for an id that needs no quoting."""
    if not _PLAIN_ID.fullmatch(task_id):
        return reverse("taskqueue:task-detail", args=[task_id], urlconf=urlconf)
    head, tail = _detail_path_parts(get_script_prefix(), urlconf)
    return head + task_id + tail


@functools.lru_cache(maxsize=64)
def _detail_path_parts(script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    """The status path around its id, for one script prefix (reverse() reads it)."""
    path = reverse("taskqueue:task-detail", args=[_MARKER], urlconf=urlconf)
    head, _, tail = path.partition(_MARKER)
    return head, tail


_MARKER = "taskqueue-id-marker"
