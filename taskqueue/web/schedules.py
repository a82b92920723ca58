"""The dashboard's Schedules section: the rows, and the pause/resume/run buttons.

The same rows as ``manage.py schedules`` (``taskqueue.schedule_status``).
The buttons are POST forms (CSRF) that need ``taskqueue.manage_queues``;
a pause or resume is persisted in Redis, so every worker sees it at its
next tick. With no schedules the section is not shown and reads nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from taskqueue import schedule_status
from taskqueue.backends import backend_for
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.firing import fire_now
from taskqueue.schedules import queue_of
from taskqueue.web.dashboard import MANAGE_PERMISSION

ACTIONS = ("pause", "resume", "run")


def schedules_context(request: HttpRequest) -> dict[str, Any]:
    """``schedules`` (rows) or ``schedules_error`` for the dashboard's template."""
    backend = backend_for()
    try:
        return {"schedules": schedule_status.rows(backend)}
    except BrokerUnavailable:
        return {"schedules_error": "Redis is unavailable: schedules cannot be read."}
    except ImproperlyConfigured as exc:
        return {"schedules_error": f"Schedules are misconfigured: {exc}"}


@require_POST
def schedule_action(request: HttpRequest) -> HttpResponse:
    """Pause, resume or run one schedule now, then back to the dashboard."""
    user: Any = request.user
    if not user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied
    back = HttpResponseRedirect(reverse("taskqueue_dashboard:index") + "#tq-schedules")
    action, name = request.POST.get("action", ""), request.POST.get("name", "")
    if action not in ACTIONS:
        messages.error(request, "Unknown schedule action.")
        return back
    backend = backend_for()
    try:
        entry = schedule_status.find(backend, name)
        if action == "run":
            task_id = fire_now(backend.broker, entry, alias=backend.alias)
            messages.success(
                request, f"Schedule {name}: one run enqueued (task {task_id})."
            )
        else:
            schedule, task = entry
            backend.broker.set_schedule_paused(
                name, queue_of(schedule, task), action == "pause"
            )
            messages.success(request, f"Schedule {name} {action}d.")
    except schedule_status.UnknownSchedule:
        messages.error(request, f"No schedule named {name[:200]!r}.")
    except ImproperlyConfigured as exc:
        messages.error(request, f"Schedules are misconfigured: {exc}")
    except BrokerUnavailable:
        messages.error(request, "Redis is unavailable; nothing was changed.")
    return back
