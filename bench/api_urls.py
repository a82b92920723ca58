"""The load check's URLconf: the site's own URLs plus a bare RPUSH view.

Bench-only (``bench/api_settings.py`` points ROOT_URLCONF here): the bare
view is the yardstick for ``POST /api/tasks/``. It runs in the same server
process, behind the same middleware, and does the least a Django view that
enqueues can do: one RPUSH, then 202. What the API does on top of that
(token, permission, recipe check, task message, READY entry, JSON answer)
is what the ratio of the two throughputs measures.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from project.urls import urlpatterns as site_urlpatterns

BARE_PATH = "bench/rpush/"
BARE_KEY = settings.TASKQUEUE_BENCH_BARE_KEY  # type: ignore[misc]


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@csrf_exempt
def bare_rpush(request: HttpRequest) -> HttpResponse:
    """One RPUSH of the request body onto a list of its own; 202, empty body."""
    _client().rpush(BARE_KEY, request.body)
    return HttpResponse(status=202)


urlpatterns = [path(BARE_PATH, bare_rpush), *site_urlpatterns]
