"""Sentry: a FAILED task's exception is one event, tagged with its task id.

Real Redis, a real consumer run in this process (tests/inprocess.py), and
sentry-sdk initialised as a Django site does (DjangoIntegration, default
integrations on) with a transport that keeps envelopes in memory.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sentry_sdk
from opentelemetry.trace import StatusCode

from tests import tasks
from tests.integration.observability_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


def _finished(task: Any, result_id: str) -> bool:
    return task.get_result(result_id).status in {"SUCCESSFUL", "FAILED"}


def test_a_failed_task_is_one_event_tagged_with_its_task(sentry, worker):
    result = tasks.fails_once_then_gives_up.enqueue("disk full")

    worker.run_until(lambda: _finished(tasks.fails_once_then_gives_up, result.id))
    (event,) = sentry.events  # the worker's "Task failed" log line is not a second
    assert event["tags"] == {
        "task_id": result.id,
        "task": "tests.tasks.fails_once_then_gives_up",
        "queue": "default",
        "attempt": "1",
    }
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "disk full"
    assert exception["mechanism"] == {"type": "taskqueue", "handled": False}
    assert event["transaction"] == "tests.tasks.fails_once_then_gives_up"


def test_attempts_that_will_be_retried_are_not_events(sentry, worker):
    result = tasks.always_fails.enqueue("flaky")

    worker.run_until(lambda: _finished(tasks.always_fails, result.id))
    (event,) = sentry.events
    assert event["tags"]["attempt"] == "3"  # the last one, after two retries


def test_expected_failures_and_successes_are_not_events(sentry, worker):
    failed = tasks.permanent_failure.enqueue()
    succeeded = tasks.add.enqueue(1, 2)

    worker.run_until(
        lambda: (
            _finished(tasks.permanent_failure, failed.id)
            and _finished(tasks.add, succeeded.id)
        )
    )
    assert sentry.events == []


def test_a_result_that_is_not_json_is_an_event(sentry, worker):
    result = tasks.returns_unserializable.enqueue()

    worker.run_until(lambda: _finished(tasks.returns_unserializable, result.id))
    (event,) = sentry.events
    assert event["tags"]["task_id"] == result.id
    assert event["exception"]["values"][-1]["type"] == "TypeError"


def test_tags_and_breadcrumbs_stay_with_their_task(sentry, worker):
    logging.getLogger("tests").warning("logged by the site before any task")
    first = tasks.fails_once_then_gives_up.enqueue("first")
    second = tasks.fails_once_then_gives_up.enqueue("second")

    worker.run_until(
        lambda: (
            _finished(tasks.fails_once_then_gives_up, first.id)
            and _finished(tasks.fails_once_then_gives_up, second.id)
        )
    )
    sentry_sdk.capture_message("the site again, after the tasks")
    *task_events, after = sentry.events
    by_id = {event["tags"]["task_id"]: event for event in task_events}
    assert set(by_id) == {first.id, second.id}
    assert "task_id" not in after.get("tags", {})
    crumbs = [
        crumb.get("message") or ""
        for crumb in by_id[second.id]["breadcrumbs"]["values"]
    ]
    assert not any(first.id in crumb for crumb in crumbs)
    assert "logged by the site before any task" not in crumbs


def test_with_tracing_too_a_failure_is_an_event_and_an_error_span(
    sentry, spans, worker
):
    result = tasks.fails_once_then_gives_up.enqueue("both")

    worker.run_until(lambda: _finished(tasks.fails_once_then_gives_up, result.id))
    (event,) = sentry.events
    assert event["tags"]["task_id"] == result.id
    (run,) = [
        s for s in spans.get_finished_spans() if s.name.startswith("taskqueue.run")
    ]
    assert run.attributes["taskqueue.outcome"] == "failed"
    assert run.status.status_code == StatusCode.ERROR
