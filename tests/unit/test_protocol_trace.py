"""The optional ``trace`` field: written last, kept by retries, shape-checked.

And the integrations' promise to cost nothing when their packages are absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from taskqueue.decoding import decode
from taskqueue.exceptions import PoisonMessage
from taskqueue.protocol import CallEncoder, Envelope, with_trace
from tests.helpers import sample_envelope

LIMIT = 1024 * 1024
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CONTEXT = {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}


def envelope(**overrides) -> Envelope:
    return sample_envelope(**{"enqueued_at": 12.5, **overrides})


def test_without_a_trace_the_bytes_are_as_they_always_were():
    assert envelope().encode() == (
        b'{"v":1,"id":"abc123","p":0,"task":"tests.tasks.add","args":[1,2],'
        b'"kwargs":{},"queue":"default","backend":"default","enqueued_at":12.5,'
        b'"attempt":1}'
    )


def test_the_trace_field_comes_last_and_round_trips():
    traced = envelope(trace=CONTEXT)

    raw = traced.encode()

    assert raw.startswith(b'{"v":1,"id":"abc123","p":0,')
    assert raw.endswith(b',"attempt":1,"trace":' + orjson.dumps(CONTEXT) + b"}")
    assert decode(raw, max_bytes=LIMIT, queue="default") == traced


def test_the_bulk_encoder_with_a_trace_writes_what_an_envelope_encodes():
    encoder = CallEncoder(
        task="tests.tasks.add", queue="default", backend="default", priority=0
    )
    plain = encoder.encode("abc123", [1, 2], {}, enqueued_at=b"12.5")

    assert with_trace(plain, orjson.dumps(CONTEXT)) == envelope(trace=CONTEXT).encode()


def test_a_retry_keeps_the_first_attempts_trace_context():
    retry = envelope(trace=CONTEXT, attempt=2).next_attempt()

    assert retry.attempt == 3
    assert retry.trace == CONTEXT


@pytest.mark.parametrize(
    "trace",
    [
        "00-abc",  # not an object
        ["traceparent"],
        {},  # no traceparent
        {"tracestate": "a=b"},
        {"traceparent": 7},
        {"traceparent": TRACEPARENT, "tracestate": None},
        {"traceparent": TRACEPARENT, "baggage": "user=alice"},  # only W3C trace context
        {"traceparent": "0" * 129},
        {"traceparent": TRACEPARENT, "tracestate": "a=" + "b" * 511},
    ],
)
def test_a_trace_field_not_shaped_as_a_trace_context_is_poison(trace):
    raw = envelope().encode()[:-1] + b',"trace":' + orjson.dumps(trace) + b"}"

    with pytest.raises(PoisonMessage) as caught:
        decode(raw, max_bytes=LIMIT, queue="default")
    assert caught.value.reason == "envelope field 'trace' is not a W3C trace context"


def test_a_null_trace_is_no_trace():
    raw = envelope().encode()[:-1] + b',"trace":null}'

    assert decode(raw, max_bytes=LIMIT, queue="default").trace is None


NO_EXTRAS = """
import sys
sys.modules["opentelemetry"] = None  # as if the extras were not installed
sys.modules["sentry_sdk"] = None
import django
django.setup()
from taskqueue import sentry, tracing
from taskqueue.worker import observe
assert not (tracing.HAVE_OPENTELEMETRY or sentry.HAVE_SENTRY)
assert not observe.active() and not observe.refresh()
print("ok")
"""


def test_without_the_extras_everything_imports_and_nothing_is_on():
    done = subprocess.run(
        [sys.executable, "-c", NO_EXTRAS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
