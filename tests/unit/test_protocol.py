"""The wire format: envelopes, the original system's forms, and poison."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskqueue.decoding import decode
from taskqueue.exceptions import PoisonMessage
from taskqueue.protocol import CallEncoder, Envelope, dumps_json
from tests.helpers import sample_envelope

LIMIT = 1024 * 1024


envelope = sample_envelope


def test_an_envelope_round_trips():
    original = envelope(priority=-5, attempt=3, enqueued_at=12.5)

    decoded = decode(original.encode(), max_bytes=LIMIT, queue="default")

    assert decoded == original


def test_encoding_starts_with_the_prefix_the_lua_scripts_read():
    raw = envelope(priority=7).encode()

    assert raw.startswith(b'{"v":1,"id":"abc123","p":7,')
    assert orjson.loads(raw)["task"] == "tests.tasks.add"


def test_a_bare_json_object_is_a_legacy_message():
    decoded = decode(b'{"recipe_id": 5}', max_bytes=LIMIT, queue="default")

    assert decoded.legacy
    assert decoded.kwargs == {"recipe_id": 5}


def test_str_of_a_dict_is_a_legacy_message():
    decoded = decode(str({"recipe_id": 5}).encode(), max_bytes=LIMIT, queue="default")

    assert decoded.legacy
    assert decoded.kwargs == {"recipe_id": 5}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b'{"v": 2, "id": "x"}', "unsupported protocol version"),
        (b'{"v": 1, "id": "x", "p": 0}', "no 'task' field"),
        (
            b"{'recipe_id': __import__('os').system('true')}",
            "unreadable legacy message",
        ),
        (b"{'a': " * 40 + b"1" + b"}" * 40, "unreadable legacy message"),
    ],
)
def test_poison_messages_say_why(raw, reason):
    with pytest.raises(PoisonMessage, match=reason) as caught:
        decode(raw, max_bytes=LIMIT, queue="default")
    assert caught.value.raw == raw


def test_a_message_over_the_size_limit_is_poison():
    with pytest.raises(PoisonMessage, match="over 10"):
        decode(b'{"recipe_id": 5}', max_bytes=10, queue="default")


def test_wrong_field_types_and_unsafe_ids_are_poison():
    good = orjson.loads(envelope().encode())
    for field, value in [
        ("args", {}),
        ("attempt", True),
        ("id", "../../x"),
        ("p", 1000),
    ]:
        with pytest.raises(PoisonMessage):
            decode(
                orjson.dumps({**good, field: value}), max_bytes=LIMIT, queue="default"
            )


def test_dumps_json_refuses_what_json_cannot_carry():
    for value in [object(), float("inf"), {1: "int key"}, [float("nan")]]:
        with pytest.raises(TypeError, match="not JSON serializable"):
            dumps_json(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_an_envelope_or_poison(raw):
    try:
        result: Envelope | str = decode(raw, max_bytes=LIMIT, queue="default")
    except PoisonMessage as exc:
        result = exc.reason
    assert isinstance(result, Envelope) or result


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=512))
def test_arbitrary_text_is_an_envelope_or_poison(text):
    for raw in (text.encode(), ("{'" + text).encode()):
        with contextlib.suppress(PoisonMessage):
            decode(raw, max_bytes=LIMIT, queue="default")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    args=st.lists(JSON_VALUES, max_size=4),
    kwargs=st.dictionaries(st.text(), JSON_VALUES, max_size=4),
    priority=st.integers(-100, 100),
    task=st.text(min_size=1, max_size=40),
    queue=st.text(min_size=1, max_size=20),
    enqueued_at=st.floats(0, 4e9),
)
def test_the_bulk_encoder_writes_exactly_what_an_envelope_encodes(
    args, kwargs, priority, task, queue, enqueued_at
):
    # The Lua scripts and the worker read both; they must be the same bytes.
    encoder = CallEncoder(task=task, queue=queue, backend="default", priority=priority)
    expected = envelope(
        id="0a1b2c", task=task, args=args, kwargs=kwargs, queue=queue,
        priority=priority, enqueued_at=enqueued_at,
    ).encode()  # fmt: skip
    stamp = orjson.dumps(enqueued_at)
    assert encoder.encode("0a1b2c", args, kwargs, enqueued_at=stamp) == expected


def test_the_bulk_encoder_refuses_arguments_that_are_not_json():
    encoder = CallEncoder(task="t", queue="q", backend="default", priority=0)
    for args, kwargs in [([object()], {}), ([], {"x": float("nan")}), ([{1: 2}], {})]:
        with pytest.raises(TypeError, match="not JSON serializable"):
            encoder.encode("abc", args, kwargs, enqueued_at=b"1.0")


def fields_of(**overrides) -> bytes:
    body = orjson.loads(envelope(enqueued_at=1.0).encode())
    return orjson.dumps({**body, **overrides})


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"attempt": 0}, "attempt is outside 1..1000"),
        ({"attempt": -1}, "attempt is outside"),
        ({"attempt": 10**18}, "attempt is outside"),
        ({"enqueued_at": 1e300}, "enqueued_at is not a time"),
        ({"enqueued_at": -1}, "enqueued_at is not a time"),
        ({"enqueued_at": 4e9}, "enqueued_at is not a time"),  # 2096: a year ahead
        ({"run_after": 1e12}, "run_after is not a time"),
        ({"queue": "elsewhere"}, "is for queue 'elsewhere', read from 'default'"),
        ({"v": True}, "unsupported protocol version True"),
        ({"v": 1.0}, "unsupported protocol version"),
        ({"args": [orjson.loads(b"[" * 70 + b"]" * 70)]},
         "nested deeper than 64"),
    ],
)  # fmt: skip
def test_every_envelope_field_is_range_checked_when_decoded(overrides, reason):
    with pytest.raises(PoisonMessage, match=reason):
        decode(fields_of(**overrides), max_bytes=LIMIT, queue="default")


def test_a_run_after_far_ahead_is_a_valid_deferral():
    decoded = decode(fields_of(run_after=4e9), max_bytes=LIMIT, queue="default")
    assert decoded.run_after == 4e9


@pytest.mark.parametrize(
    "text",
    [
        "{'recipe_id': 100000000000000000000}",
        "{'recipe_id': -100000000000000000000}",
        "{'recipe_id': " + "9" * 4000 + "}",
        "{'recipe_id': 1e999}",
    ],
)
def test_a_legacy_literal_json_cannot_carry_is_poison(text):
    with pytest.raises(PoisonMessage, match=r"64-bit|not finite"):
        decode(text.encode(), max_bytes=LIMIT, queue="default")


def test_a_wrapped_legacy_message_keeps_the_id_the_claim_gave_it():
    inner = "{'recipe_id': 5}"
    raw = orjson.dumps(
        {"v": 1, "id": "f00d0001", "p": 0, "legacy": inner, "enqueued_at": 10.5}
    )

    decoded = decode(raw, max_bytes=LIMIT, queue="default")

    assert (decoded.id, decoded.kwargs, decoded.legacy) == (
        "f00d0001",
        {"recipe_id": 5},
        True,
    )
    assert decoded.enqueued_at == 10.5


def test_a_wrapped_message_that_is_not_an_object_is_poison():
    raw = orjson.dumps(
        {"v": 1, "id": "f1", "p": 0, "legacy": "{nope", "enqueued_at": 1}
    )
    with pytest.raises(PoisonMessage, match="not JSON"):
        decode(raw, max_bytes=LIMIT, queue="default")
