"""The shared Lua against a real Redis: prelude.lua (the clock) and envelope.lua,
which reads messages as protocol.py writes them."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskqueue.broker import ClaimPolicy
from taskqueue.decoding import decode, visible_id
from taskqueue.protocol import WAKE, CallEncoder, Envelope
from taskqueue.store.scripts import compose

LIMIT = 1024 * 1024
# Each message's envelope_id (false: none), envelope_priority, and whether it
# opens as an envelope does (the claim's test before it wraps a message).
READ_EACH = """
local out = {}
for i, m in ipairs(ARGV) do
  local opens = string.sub(m, 1, #ENVELOPE_OPEN) == ENVELOPE_OPEN
  out[i] = {envelope_id(m) or false, envelope_priority(m), opens and 1 or 0}
end
return out
"""
# priority_score(p, t) for each pair of arguments, then PRIORITY_ZERO.
SCORE_EACH = """
local out = {}
for i = 1, #ARGV, 2 do
  out[#out + 1] = priority_score(tonumber(ARGV[i]), tonumber(ARGV[i + 1]))
end
out[#out + 1] = tonumber(PRIORITY_ZERO)
return out
"""
CLOCK_TWICE = """
local first = string.format('%.6f', server_now())
redis.call('TIME')
return {first, string.format('%.6f', server_now())}
"""
IDS = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=63)  # fmt: skip
ENVELOPES = st.builds(
    Envelope,
    id=IDS,
    task=st.text(max_size=20),
    args=st.lists(st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=10))),
    kwargs=st.dictionaries(st.text(max_size=5), st.booleans(), max_size=3),
    queue=st.just("default"),
    priority=st.integers(-100, 100),
    enqueued_at=st.floats(0, 2e9),
    attempt=st.integers(1, 1000),
    trace=st.none()
    | st.just({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}),
)


def read_in_lua(broker, raws: list[bytes]) -> list[tuple[str | None, int, bool]]:
    replies = broker.client.eval(compose("envelope") + READ_EACH, 0, *raws)
    return [(None if i is None else i.decode(), p, bool(e)) for i, p, e in replies]


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(envelopes=st.lists(ENVELOPES, min_size=1, max_size=20))
def test_lua_reads_the_id_and_priority_envelope_encode_writes(broker, envelopes):
    raws = [envelope.encode() for envelope in envelopes]

    assert read_in_lua(broker, raws) == [(e.id, e.priority, True) for e in envelopes]
    assert [visible_id(raw) for raw in raws] == [e.id for e in envelopes]


def test_lua_reads_the_id_and_priority_a_bulk_enqueue_writes(broker):
    encoders = [
        CallEncoder(task="tests.tasks.add", queue="default", backend="b", priority=p)
        for p in (-100, -1, 0, 1, 100)
    ]
    raws = [
        encoder.encode(f"{n:032x}", [n], {}, enqueued_at=b"1764054242.318")
        for n, encoder in enumerate(encoders)
    ]

    assert read_in_lua(broker, raws) == [
        (f"{n:032x}", p, True) for n, p in enumerate((-100, -1, 0, 1, 100))
    ]


def test_a_legacy_message_wrapped_by_the_claim_has_the_id_python_decodes(broker):
    broker.push_raw("default", b"{'recipe_id': 5}")
    broker.push_raw("default", b'  {"recipe_id": 6}')
    policy = ClaimPolicy(max_batch=10, worker_timeout=60, result_ttl=60)
    wrapped = [m.raw for m in broker.claim("default", "c1", policy).messages]

    decoded = [decode(raw, max_bytes=LIMIT, queue="default") for raw in wrapped]
    assert read_in_lua(broker, wrapped) == [(e.id, 0, True) for e in decoded]
    assert [visible_id(raw) for raw in wrapped] == [e.id for e in decoded]
    assert all(e.legacy and e.id for e in decoded)


@pytest.mark.parametrize(
    "raw",
    [b"{'recipe_id': 5}", b'{"recipe_id": 5}', b"not json", b"", WAKE,
     b'{"v":1, "id":"spaced","p":0}', b'{"id":"x","v":1,"p":0}'],
)  # fmt: skip
def test_a_message_without_the_canonical_prefix_names_no_id(broker, raw):
    assert read_in_lua(broker, [raw]) == [(None, 0, False)]
    assert visible_id(raw) == ""


def test_the_priority_score_orders_higher_priorities_first_then_by_time(broker):
    script = compose("envelope") + SCORE_EACH
    calls = [(100, 5.0), (100, 6.0), (1, 1.0), (0, 1.0), (-1, 1.0), (-100, 0.5)]
    *scores, zero = broker.client.eval(script, 0, *(v for call in calls for v in call))

    # docs/protocol.md: (100 - p) * 10^13 + enqueue ms
    assert scores == [(100 - p) * 10**13 + int(t * 1000) for p, t in calls]
    assert scores == sorted(scores)
    assert zero == (100 - 0) * 10**13  # below it: the positive priorities
    assert max(scores[:3]) < zero <= min(scores[3:])


def test_server_now_is_the_server_clock_read_once_per_script(broker):
    script = compose() + CLOCK_TWICE
    before = time.time()

    first, again = broker.client.eval(script, 0)

    assert first == again
    assert before - 5 < float(first) < time.time() + 5
