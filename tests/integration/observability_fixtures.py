"""OpenTelemetry and Sentry set up as a site would, reporting into memory.

Shared by test_tracing.py and test_sentry.py: the SDKs' in-memory span
exporter, a Sentry transport that keeps envelopes, and a consumer run in
the test's process (tests/inprocess.py) so that both see what it reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.util._once import Once
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.transport import Transport

from taskqueue.worker import observe
from tests.inprocess import InProcessWorker

__all__ = ["MemoryTransport", "sentry", "spans", "worker"]


def install_global(provider: Any) -> None:
    """Set (or clear) the global TracerProvider, which the API sets only once.

    The same reset opentelemetry's own test utilities do between tests.
    """
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    if provider is not None:
        trace.set_tracer_provider(provider)
    observe.refresh()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install_global(provider)
    yield exporter
    install_global(None)
    provider.shutdown()


@pytest.fixture
def worker(broker: Any) -> Iterator[InProcessWorker]:
    consumer = InProcessWorker(broker)
    yield consumer
    consumer.close()


class MemoryTransport(Transport):
    """Keeps what the SDK would send; nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event"
        ]


@pytest.fixture
def sentry() -> Iterator[MemoryTransport]:
    transport = MemoryTransport()
    sentry_sdk.init(
        dsn="https://public@sentry.invalid/1",
        transport=transport,
        integrations=[DjangoIntegration()],
    )
    observe.refresh()
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    observe.refresh()
