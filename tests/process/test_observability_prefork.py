"""A real prefork runworker set up with OpenTelemetry and Sentry in its settings.

Its children end with os._exit(), which skips the SDKs' atexit flushes: the
worker flushes them itself (observe.flush), or the spans, held by a batch
processor whose delay is longer than the test, would never be written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry import trace

from tests import tasks
from tests.integration.observability_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def _lines(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text().splitlines()]
        if path.exists()
        else []
    )


def test_a_prefork_child_reports_its_spans_and_events_before_it_exits(
    spans, run_command, tmp_path
):
    span_file, event_file = tmp_path / "spans.jsonl", tmp_path / "events.jsonl"
    with trace.get_tracer("tests").start_as_current_span("POST /api/tasks/"):
        ok = tasks.add.enqueue(1, 2)
    failed = tasks.fails_once_then_gives_up.enqueue("in a child")
    (producer,) = [
        s for s in spans.get_finished_spans() if s.name.startswith("taskqueue.enqueue")
    ]

    done = run_command(
        "runworker", "--burst", "--pool", "prefork", "--concurrency", "1",
        env={"DJANGO_SETTINGS_MODULE": "tests.observability_settings",
             "TEST_SPANS_FILE": str(span_file), "TEST_SENTRY_FILE": str(event_file)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    runs = {s["attributes"]["messaging.message.id"]: s for s in _lines(span_file)}
    assert runs[ok.id]["kind"] == "CONSUMER"
    assert runs[ok.id]["links"] == [format(producer.context.span_id, "016x")]
    assert runs[ok.id]["attributes"]["taskqueue.outcome"] == "succeeded"
    assert runs[failed.id]["attributes"]["taskqueue.outcome"] == "failed"
    (event,) = _lines(event_file)
    assert event["tags"]["task_id"] == failed.id


def test_a_child_the_watchdog_replaces_reports_the_timed_out_task(
    spans, run_command, tmp_path
):
    span_file, event_file = tmp_path / "spans.jsonl", tmp_path / "events.jsonl"
    stuck = tasks.ignores_time_limit.enqueue()

    done = run_command(
        "runworker", "--burst", "--pool", "prefork", "--concurrency", "1",
        env={"DJANGO_SETTINGS_MODULE": "tests.observability_settings",
             "TEST_SPANS_FILE": str(span_file), "TEST_SENTRY_FILE": str(event_file)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    events = _lines(event_file)  # the watchdog's own ERROR line is one too
    (event,) = [e for e in events if "exception" in e]
    assert event["tags"]["task_id"] == stuck.id
    assert event["exception"]["values"][-1]["type"] == "TimeLimitExceeded"
