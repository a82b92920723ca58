"""OpenTelemetry: a task's span links back to the request that enqueued it.

With ``opentelemetry-api`` installed and a TracerProvider configured, an
enqueue made while a span is active starts a PRODUCER span
``taskqueue.enqueue <task>`` and writes its W3C trace context (traceparent,
tracestate) into the envelope's ``trace`` field; the worker runs the task in
a CONSUMER span ``taskqueue.run <task>`` that has a Link to that context.
A retry's envelope keeps the first attempt's context, so every attempt links
to the same producer span. Baggage is not carried: a message is stored in
Redis and shown in the admin, and baggage may hold anything.

Link, not parent (the messaging semantic conventions require the link and
leave the parent optional): a task may run hours after its request, once
per attempt, and each run is a trace of its own instead of stretching the
request's. ``enabled()`` is decided once per process, at first use: without
the package, without a configured provider, the hot paths pay one call to
a cached boolean. ``taskqueue.worker.observe.refresh()`` decides again, for
this module and the worker's hook (for a provider set up later).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from taskqueue import __version__
from taskqueue.protocol import TRACE_LIMITS, Envelope, with_trace
from taskqueue.switch import CachedSwitch

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )
except ImportError:  # the "otel" extra is not installed
    HAVE_OPENTELEMETRY = False
else:
    HAVE_OPENTELEMETRY = True
    _PROPAGATOR = TraceContextTextMapPropagator()

SYSTEM = "taskqueue"
_tracers: list[trace.Tracer] = []  # the provider's tracer for us, once enabled


def _provider_configured() -> bool:
    """A TracerProvider is configured: keep the provider's tracer for us."""
    found = HAVE_OPENTELEMETRY and not isinstance(
        trace.get_tracer_provider(),
        trace.ProxyTracerProvider | trace.NoOpTracerProvider,
    )
    _tracers[:] = [trace.get_tracer("taskqueue", __version__)] if found else []
    return found


# Is OpenTelemetry installed with a TracerProvider configured? ``refresh()``
# looks again (after setting one up late).
enabled = CachedSwitch(_provider_configured)
refresh = enabled.refresh


def flush(timeout: float) -> None:
    """Export the spans the SDK still holds, waiting at most ``timeout`` seconds."""
    if not enabled():
        return
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:  # the SDK's provider has it; the API's has not
        force_flush(int(timeout * 1000))


def _tracer() -> trace.Tracer:
    """Ours, made once: the SDK builds a new Tracer on each get_tracer() (~6 us)."""
    return _tracers[0] if _tracers else trace.get_tracer("taskqueue", __version__)


def stamp(
    raws: list[bytes], *, task: Any, ids: Sequence[str], limit: int
) -> list[bytes]:
    """Messages about to be enqueued, with the trace context of a PRODUCER span.

    Unchanged (the same list) when no span is active, so untraced messages
    keep their bytes. A message that the context would push over ``limit``
    bytes goes without it: tracing never makes an enqueue fail.
    """
    if not trace.get_current_span().get_span_context().is_valid:
        return raws
    span = _tracer().start_span(
        f"taskqueue.enqueue {task.module_path}",
        kind=trace.SpanKind.PRODUCER,
        attributes=_producer_attributes(task, ids),
    )
    try:
        carrier = _context_of(span)
    finally:
        span.end()
    if carrier is None:
        return raws
    room = limit - len(carrier) - len(b',"trace":')
    return [with_trace(raw, carrier) if len(raw) <= room else raw for raw in raws]


def _producer_attributes(task: Any, ids: Sequence[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "create" if len(ids) == 1 else "send",
        "messaging.destination.name": task.queue_name,
        "taskqueue.task": task.module_path,
    }
    if len(ids) == 1:
        attributes["messaging.message.id"] = ids[0]
    else:
        attributes["messaging.batch.message_count"] = len(ids)
    return attributes


def _context_of(span: trace.Span) -> bytes | None:
    """The JSON of a span's W3C trace context, within the lengths decode accepts."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    if len(carrier.get("tracestate", "")) > TRACE_LIMITS["tracestate"]:
        del carrier["tracestate"]  # W3C lets a vendor drop what it cannot carry
    traceparent = carrier.get("traceparent", "")
    if not 0 < len(traceparent) <= TRACE_LIMITS["traceparent"]:
        return None
    return orjson.dumps(carrier)


@contextmanager
def task_span(envelope: Envelope) -> Iterator[trace.Span]:
    """The CONSUMER span one run of a task happens in (current while it runs)."""
    with _tracer().start_as_current_span(
        f"taskqueue.run {envelope.task}",
        kind=trace.SpanKind.CONSUMER,
        links=_links(envelope.trace),
        attributes={
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": envelope.queue,
            "messaging.message.id": envelope.id,
            "taskqueue.task": envelope.task,
            "taskqueue.attempt": envelope.attempt,
        },
        record_exception=False,  # task exceptions never reach here (see outcome)
        set_status_on_exception=False,
    ) as span:
        yield span


def _links(context: dict[str, str] | None) -> list[trace.Link]:
    """A Link to the producer's span, if the envelope carries a readable context."""
    if context is None:
        return []
    producer = trace.get_current_span(_PROPAGATOR.extract(context))
    span_context = producer.get_span_context()
    return [trace.Link(span_context)] if span_context.is_valid else []


def outcome(
    span: trace.Span, name: str, *, error_json: bytes | None, summary: str
) -> None:
    """Record how the run ended: ``taskqueue.outcome``, the exception, the status.

    ``error_json`` is the stored error (results.error_json): the exception
    event is written from it, as record_exception would write it.
    """
    span.set_attribute("taskqueue.outcome", name)
    if error_json is not None:
        error = orjson.loads(error_json)
        span.set_attribute("error.type", error["class"])
        span.add_event(
            "exception",
            {
                "exception.type": error["class"],
                "exception.message": error["str"],
                "exception.stacktrace": error["traceback"],
            },
        )
    if summary:
        span.set_status(trace.StatusCode.ERROR, summary)
