"""Sentry: a task that ends FAILED is an event, tagged with its task id.

With ``sentry-sdk`` installed and ``sentry_sdk.init()`` called (as Django
sites do in settings.py, with the DjangoIntegration), each task runs in an
isolation scope of its own: its breadcrumbs and tags never reach the next
task's events. Captured, with tags ``task_id``, ``task``, ``queue`` and
``attempt``: the exception of a task that ends FAILED (its retries spent,
or none allowed, or a result that is not JSON). Not captured: an attempt
that will be retried (as Sentry's Celery integration does not), and the
expected failures the worker logs as warnings (``ObjectDoesNotExist``,
``PermanentError``): they are outcomes the task chose, not bugs.

Two ERROR log lines say the same again and would be events of their own
through Sentry's LoggingIntegration: the worker's "Task failed task_id=..."
(a ``taskqueue.worker`` record with ``outcome="failed"``) and the FAILED
line of Django's task log receiver, which the worker sends after storing
the outcome, so it has no exception. In a process that runs taskqueue
tasks an event processor drops those two, so that a failure is one event,
and an expected one none. Every other log line reaches Sentry as configured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskqueue.protocol import Envelope
from taskqueue.switch import CachedSwitch

try:
    import sentry_sdk
    from sentry_sdk.scope import add_global_event_processor
    from sentry_sdk.utils import event_from_exception
except ImportError:  # the "sentry" extra is not installed
    HAVE_SENTRY = False
else:
    HAVE_SENTRY = True

WORKER_LOGGER = "taskqueue.worker"
DJANGO_TASK_LOGGERS = ("django.tasks", "django_tasks")  # the backport's name
_processor_added = False


def _client_active() -> bool:
    """sentry-sdk is installed and initialised: add our event processor."""
    found = HAVE_SENTRY and sentry_sdk.get_client().is_active()
    if found:
        _add_processor()
    return found


# Is sentry-sdk installed and initialised? ``refresh()`` looks again (after a
# late init).
enabled = CachedSwitch(_client_active)
refresh = enabled.refresh


def _add_processor() -> None:
    global _processor_added  # once per process: global processors outlive clients
    if not _processor_added:
        add_global_event_processor(_without_failed_line)
        _processor_added = True


def _without_failed_line(event: Any, hint: dict[str, Any]) -> Any:
    """Drop the log events of a failure that capture() reports (or skips)."""
    record = hint.get("log_record")
    if isinstance(record, logging.LogRecord) and _repeats_an_outcome(record):
        return None
    return event


def _repeats_an_outcome(record: logging.LogRecord) -> bool:
    if record.levelno < logging.ERROR:
        return False
    if record.name == WORKER_LOGGER:
        return getattr(record, "outcome", None) == "failed"
    # Django's receiver logs with logger.exception(); sent from a worker
    # after the outcome is stored, the record has no exception to show.
    no_exception = not record.exc_info or record.exc_info[0] is None
    return record.name in DJANGO_TASK_LOGGERS and no_exception


def tags(envelope: Envelope) -> dict[str, str]:
    return {
        "task_id": envelope.id,
        "task": envelope.task,
        "queue": envelope.queue,
        "attempt": str(envelope.attempt),
    }


@contextmanager
def task_scope(envelope: Envelope) -> Iterator[None]:
    """The isolation scope one run of a task happens in."""
    with sentry_sdk.isolation_scope() as scope:
        scope.clear_breadcrumbs()  # the worker's own, and the last task's
        scope.set_transaction_name(envelope.task, source="task")
        scope.set_tags(tags(envelope))
        yield


def flush(timeout: float) -> None:
    """Send the events the SDK still holds, waiting at most ``timeout`` seconds."""
    if HAVE_SENTRY and sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout=timeout)


def capture(envelope: Envelope, exc: BaseException) -> None:
    """Send a FAILED task's exception to Sentry (no-op when Sentry is not set up).

    The tags are set here again, in a scope of the call's own, because a
    task stopped from outside (prefork's hard time limit) is recorded by
    the watchdog thread, outside its task scope.
    """
    if not (HAVE_SENTRY and sentry_sdk.get_client().is_active()):
        return
    _add_processor()
    event, hint = event_from_exception(
        exc,
        client_options=sentry_sdk.get_client().options,
        mechanism={"type": "taskqueue", "handled": False},
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_tags(tags(envelope))
        scope.capture_event(event, hint=hint)
