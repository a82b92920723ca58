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

The worker's own ERROR line for that task ("Task failed task_id=...") would
reach Sentry a second time through its LoggingIntegration; an event
processor drops that one event (the record with ``outcome="failed"`` from
the ``taskqueue.worker`` logger), so a failure is one issue, not two.
Every other worker log line reaches Sentry as configured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskqueue.protocol import Envelope

try:
    import sentry_sdk
    from sentry_sdk.scope import add_global_event_processor
    from sentry_sdk.utils import event_from_exception
except ImportError:  # the "sentry" extra is not installed
    HAVE_SENTRY = False
else:
    HAVE_SENTRY = True

WORKER_LOGGER = "taskqueue.worker"
_enabled: bool | None = None
_processor_added = False


def enabled() -> bool:
    """Is sentry-sdk installed and initialised? (cached, see refresh())"""
    if _enabled is None:
        return refresh()
    return _enabled


def refresh() -> bool:
    """Look again for an initialised Sentry client (after a late init)."""
    global _enabled  # the one cached switch of this module
    _enabled = HAVE_SENTRY and sentry_sdk.get_client().is_active()
    if _enabled:
        _add_processor()
    return _enabled


def _add_processor() -> None:
    global _processor_added  # once per process: global processors outlive clients
    if not _processor_added:
        add_global_event_processor(_without_failed_line)
        _processor_added = True


def _without_failed_line(event: Any, hint: dict[str, Any]) -> Any:
    """Drop the log event of a failure that capture() has sent as an exception."""
    record = hint.get("log_record")
    if (
        isinstance(record, logging.LogRecord)
        and record.name == WORKER_LOGGER
        and getattr(record, "outcome", None) == "failed"
        and record.levelno >= logging.ERROR
    ):
        return None
    return event


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
