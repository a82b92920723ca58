"""The dashboard's control forms: cancel a task, pause or resume a queue.

Plain POST forms (CSRF) that need the ``taskqueue.manage_queues``
permission, answered with a message and a redirect back to the dashboard,
as the dead-letter forms are. The cancel button is its own template
(taskqueue/cancel_button.html) so that a task page can show it too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from taskqueue.backends import backend_for
from taskqueue.cancellation import cancel
from taskqueue.compat import TaskResultDoesNotExist
from taskqueue.exceptions import BrokerUnavailable

MANAGE_PERMISSION = "taskqueue.manage_queues"


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("taskqueue_dashboard:index"))


def _require_manage(request: HttpRequest) -> None:
    user: Any = request.user
    if not user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied


@require_POST
def cancel_action(request: HttpRequest) -> HttpResponse:
    """Cancel one task (``task_id``); ``terminate=1`` stops its prefork child."""
    _require_manage(request)
    task_id = request.POST.get("task_id", "")
    try:
        done = cancel(task_id, terminate=request.POST.get("terminate") == "1")
    except ValueError:
        messages.error(request, "That is not a task id.")
    except TaskResultDoesNotExist:
        messages.error(request, f"No task with id {task_id}.")
    except BrokerUnavailable:
        messages.error(request, "Redis is unavailable; nothing was changed.")
    else:
        if done:
            messages.success(request, f"Cancelled task {task_id}.")
        else:
            messages.warning(request, f"Task {task_id} had already finished.")
    return _back()


@require_POST
def pause_action(request: HttpRequest) -> HttpResponse:
    """Pause (``action=pause``) or resume (``action=resume``) one ``queue``."""
    _require_manage(request)
    backend = backend_for()
    action, queue = request.POST.get("action"), request.POST.get("queue", "")
    if action not in {"pause", "resume"} or queue not in backend.queue_names:
        messages.error(request, "Unknown queue action or queue.")
        return _back()
    try:
        backend.broker.set_paused(queue, action == "pause")
    except BrokerUnavailable:
        messages.error(request, "Redis is unavailable; nothing was changed.")
    else:
        verb = "Paused" if action == "pause" else "Resumed"
        messages.success(request, f"{verb} queue {queue}.")
    return _back()
