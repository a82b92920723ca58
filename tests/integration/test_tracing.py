"""OpenTelemetry: the enqueueing span's context travels to the worker's span.

Real Redis, a real consumer run in this process (tests/inprocess.py), and
opentelemetry-sdk's InMemorySpanExporter as the configured provider.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from taskqueue import tracing
from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from taskqueue.protocol import CallEncoder
from taskqueue.worker import observe
from tests import tasks
from tests.helpers import dead_reasons
from tests.integration.observability_fixtures import *  # noqa: F403
from tests.integration.observability_fixtures import install_global

pytestmark = pytest.mark.django_db(transaction=True)


def _request_span() -> Any:
    return trace.get_tracer("tests").start_as_current_span("GET /api/tasks/")


def _named(exporter: InMemorySpanExporter, prefix: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def _status(task: Any, result_id: str) -> Any:
    return task.get_result(result_id).status


def _pending_messages(broker: Any) -> list[bytes]:
    return list(broker.client.lrange(broker.keys("default").pending, 0, -1))


def test_the_task_span_links_to_the_enqueueing_span(spans, broker, worker):
    with _request_span() as request:
        result = tasks.add.enqueue(2, 3)

    worker.run_until(lambda: _status(tasks.add, result.id) == "SUCCESSFUL")
    (producer,) = _named(spans, "taskqueue.enqueue")
    (run,) = _named(spans, "taskqueue.run")
    assert producer.name == "taskqueue.enqueue tests.tasks.add"
    assert producer.kind == SpanKind.PRODUCER
    assert producer.parent.span_id == request.get_span_context().span_id
    assert run.name == "taskqueue.run tests.tasks.add"
    assert run.kind == SpanKind.CONSUMER
    (link,) = run.links
    assert link.context.trace_id == request.get_span_context().trace_id
    assert link.context.span_id == producer.context.span_id
    assert run.parent is None  # a trace of its own, linked (see tracing.py)
    assert dict(run.attributes) == {
        "messaging.system": "taskqueue",
        "messaging.operation.type": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": result.id,
        "taskqueue.task": "tests.tasks.add",
        "taskqueue.attempt": 1,
        "taskqueue.outcome": "succeeded",
    }
    assert run.status.status_code == StatusCode.UNSET


def test_every_attempt_links_to_the_first_enqueue(spans, broker, worker):
    with _request_span():
        result = tasks.always_fails.enqueue("boom")

    worker.run_until(lambda: _status(tasks.always_fails, result.id) == "FAILED")
    (producer,) = _named(spans, "taskqueue.enqueue")
    runs = _named(spans, "taskqueue.run")
    assert [r.attributes["taskqueue.attempt"] for r in runs] == [1, 2, 3]
    assert [r.attributes["taskqueue.outcome"] for r in runs] == [
        "retrying",
        "retrying",
        "failed",
    ]
    for run in runs:
        assert [link.context.span_id for link in run.links] == [
            producer.context.span_id
        ]
        assert run.status.status_code == StatusCode.ERROR
        assert run.attributes["error.type"] == "builtins.ValueError"
        (event,) = run.events
        assert event.name == "exception"
        assert event.attributes["exception.message"] == "boom"
        assert "raise ValueError(message)" in event.attributes["exception.stacktrace"]


def test_an_expected_failure_is_failed_and_an_error(spans, broker, worker):
    result = tasks.permanent_failure.enqueue()

    worker.run_until(lambda: _status(tasks.permanent_failure, result.id) == "FAILED")
    (run,) = _named(spans, "taskqueue.run")
    assert run.attributes["taskqueue.outcome"] == "failed"
    assert run.status.status_code == StatusCode.ERROR
    assert run.links == ()  # enqueued with no active span: nothing to link to


def test_an_async_task_runs_in_its_span(spans, broker, worker):
    with _request_span() as request:
        result = tasks.async_multiply.enqueue(3, 4)

    worker.run_until(
        lambda: _status(tasks.async_multiply, result.id) == TaskResultStatus.SUCCESSFUL
    )
    (run,) = _named(spans, "taskqueue.run")
    assert run.attributes["taskqueue.outcome"] == "succeeded"
    assert run.links[0].context.trace_id == request.get_span_context().trace_id


def test_a_bulk_enqueue_is_one_producer_span_for_all_its_messages(
    spans, broker, worker
):
    with _request_span():
        results = enqueue_many(tasks.add, [((i, i), {}) for i in range(3)])

    worker.run_until(
        lambda: all(_status(tasks.add, r.id) == "SUCCESSFUL" for r in results)
    )
    (producer,) = _named(spans, "taskqueue.enqueue")
    assert producer.attributes["messaging.batch.message_count"] == 3
    runs = _named(spans, "taskqueue.run")
    assert {r.attributes["messaging.message.id"] for r in runs} == {
        r.id for r in results
    }
    assert {r.links[0].context.span_id for r in runs} == {producer.context.span_id}


def test_no_active_span_leaves_the_message_as_it_was(spans, broker, backend):
    result = tasks.add.enqueue(1, 2)

    (raw,) = _pending_messages(broker)
    assert b'"trace"' not in raw
    enqueued_at = orjson.dumps(orjson.loads(raw)["enqueued_at"])
    untraced = CallEncoder(
        task="tests.tasks.add", queue="default", backend="default", priority=0
    ).encode(result.id, [1, 2], {}, enqueued_at=enqueued_at)
    assert raw == untraced
    assert _named(spans, "taskqueue.enqueue") == []


def test_a_traced_message_ends_with_its_trace_field(spans, broker, backend):
    with _request_span() as request:
        tasks.add.enqueue(1, 2)

    (raw,) = _pending_messages(broker)
    assert raw.startswith(b'{"v":1,"id":"')
    message = orjson.loads(raw)
    assert list(message)[-2:] == ["attempt", "trace"]
    trace_id = format(request.get_span_context().trace_id, "032x")
    assert message["trace"]["traceparent"].split("-")[1] == trace_id


def test_a_trace_field_that_is_not_a_trace_context_is_poison(spans, broker, worker):
    with _request_span():
        tasks.add.enqueue(1, 2)
    (raw,) = _pending_messages(broker)
    message = orjson.loads(raw)
    message["trace"] = {"traceparent": "00-" + "a" * 500}
    broker.client.lset(broker.keys("default").pending, 0, orjson.dumps(message))

    worker.run_until(lambda: dead_reasons(broker))
    assert dead_reasons(broker) == ["envelope field 'trace' is not a W3C trace context"]
    assert _named(spans, "taskqueue.run") == []


def test_an_unreadable_traceparent_runs_the_task_unlinked(spans, broker, worker):
    with _request_span():
        result = tasks.add.enqueue(1, 2)
    (raw,) = _pending_messages(broker)
    message = orjson.loads(raw)
    message["trace"] = {"traceparent": "not-a-traceparent"}
    broker.client.lset(broker.keys("default").pending, 0, orjson.dumps(message))

    worker.run_until(lambda: _status(tasks.add, result.id) == "SUCCESSFUL")
    (run,) = _named(spans, "taskqueue.run")
    assert run.links == ()


def test_without_a_provider_nothing_is_traced(broker, worker):
    assert not observe.refresh()
    assert not tracing.enabled()
    with _request_span():  # the API's no-op tracer: no valid span
        result = tasks.add.enqueue(1, 2)

    (raw,) = _pending_messages(broker)
    assert b'"trace"' not in raw
    worker.run_until(lambda: _status(tasks.add, result.id) == "SUCCESSFUL")


def test_a_message_the_context_would_take_over_the_limit_goes_without_it(spans):
    raw = CallEncoder(
        task="tests.tasks.add", queue="default", backend="default", priority=0
    ).encode("abc", [1, 2], {}, enqueued_at=b"1.0")

    with _request_span():
        roomy, tight = (
            tracing.stamp([raw], task=tasks.add, ids=["abc"], limit=limit)[0]
            for limit in (len(raw) + 200, len(raw) + 20)
        )

    assert orjson.loads(roomy)["trace"]["traceparent"].startswith("00-")
    assert tight == raw


def test_a_worker_without_a_provider_runs_traced_messages(spans, broker, worker):
    with _request_span():
        result = tasks.add.enqueue(1, 2)
    assert b'"trace"' in _pending_messages(broker)[0]
    install_global(None)  # the worker's process has no TracerProvider

    worker.run_until(lambda: _status(tasks.add, result.id) == "SUCCESSFUL")
    assert _named(spans, "taskqueue.run") == []
