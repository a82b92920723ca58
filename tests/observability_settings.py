"""Test settings that set up OpenTelemetry and Sentry as a site's settings.py would.

For worker subprocesses (tests/process/test_observability_prefork.py): the
spans go to the JSON-lines file TEST_SPANS_FILE through the SDK's batch
processor (with a delay longer than any test, so that only a flush writes
them), and Sentry's events to TEST_SENTRY_FILE (also only when flushed).
"""

import json
import os
from collections.abc import Sequence
from typing import Any

import sentry_sdk
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.transport import Transport

from tests.settings import *  # noqa: F403


class FileSpanExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a") as out:
            for span in spans:
                out.write(json.dumps(_span_fields(span)) + "\n")
        return SpanExportResult.SUCCESS


def _span_fields(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind.name,
        "pid": os.getpid(),
        "links": [format(link.context.span_id, "016x") for link in span.links],
        "attributes": dict(span.attributes or {}),
    }


class FileTransport(Transport):
    """Holds events until flushed, as the SDK's HTTP transport queues them."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.held: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.held += [
            item.payload.json for item in envelope.items if item.type == "event"
        ]

    def flush(self, timeout: float, callback: Any = None) -> None:
        with open(self.path, "a") as out:
            for event in self.held:
                out.write(json.dumps(event, default=str) + "\n")
        self.held.clear()


_provider = TracerProvider()
_provider.add_span_processor(
    BatchSpanProcessor(
        FileSpanExporter(os.environ["TEST_SPANS_FILE"]), schedule_delay_millis=600_000
    )
)
trace.set_tracer_provider(_provider)
sentry_sdk.init(
    dsn="https://public@sentry.invalid/1",
    transport=FileTransport(os.environ["TEST_SENTRY_FILE"]),
    integrations=[DjangoIntegration()],
)
