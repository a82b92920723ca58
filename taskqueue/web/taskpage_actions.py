"""The task page's buttons: Retry, Cancel and Requeue (a dead-lettered task).

Plain POST forms (CSRF, through ``admin_view``) that need
``taskqueue.manage_queues``, as the dashboard's controls do; each answers
with a Django message and a redirect back to the task page. Retry is
taskqueue/manual_retry.py (only a registered task path is enqueued),
Cancel is ``taskqueue.cancel``, Requeue is the dead-letter requeue the
dashboard's dead-letter form runs (``Broker.dead_action``), for the one
dead letter the task's record names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from taskqueue.backends import backend_for
from taskqueue.cancellation import cancel
from taskqueue.compat import TaskResultDoesNotExist
from taskqueue.connection import InvalidRedisURL
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.manual_retry import NotRetryable, retry
from taskqueue.protocol import ID_RE
from taskqueue.results import ResultRecord
from taskqueue.web.controls import MANAGE_PERMISSION
from taskqueue.web.taskpage import task_url


@require_POST
def task_action(request: HttpRequest, task_id: str) -> HttpResponse:
    """``action=retry|cancel|requeue`` for one task; always back to its page."""
    user: Any = request.user
    if not user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied
    act = ACTIONS.get(request.POST.get("action", ""))
    if act is None:
        messages.error(request, "Unknown task action.")
    elif not ID_RE.fullmatch(task_id):
        messages.error(request, "That is not a task id.")
    else:
        try:
            act(request, task_id)
        except TaskResultDoesNotExist:
            messages.error(request, f"No task with id {task_id} (unknown or expired).")
        except (BrokerUnavailable, InvalidRedisURL):
            messages.error(request, "Redis is unavailable; nothing was changed.")
    return HttpResponseRedirect(task_url(task_id))


def _retry(request: HttpRequest, task_id: str) -> None:
    try:
        result = retry(task_id)
    except NotRetryable as exc:
        messages.error(request, f"Task {task_id} cannot be retried: {exc}.")
        return
    messages.success(request, f"Retried task {task_id} as task {result.id}.")


def _cancel(request: HttpRequest, task_id: str) -> None:
    if cancel(task_id):
        messages.success(request, f"Cancelled task {task_id}.")
    else:
        messages.warning(request, f"Task {task_id} had already finished.")


def _requeue(request: HttpRequest, task_id: str) -> None:
    backend = backend_for()
    stored = backend.broker.result_record(task_id, backend.queue_names)
    if stored is None:
        raise TaskResultDoesNotExist(task_id)
    record = ResultRecord.parse(*stored)
    dead_ids = [e.dead_id for e in record.errors if e.dead_id]
    queue = record.queue_name
    done = 0
    if dead_ids and queue is not None and queue in backend.queue_names:
        done = backend.broker.dead_action(queue, "requeue", dead_ids[-1:])
    if done:
        messages.success(
            request, f"Requeued task {task_id} (dead letter {dead_ids[-1]})."
        )
    else:
        messages.warning(request, f"Task {task_id} has no dead letter to requeue.")


ACTIONS: dict[str, Callable[[HttpRequest, str], None]] = {
    "retry": _retry,
    "cancel": _cancel,
    "requeue": _requeue,
}
