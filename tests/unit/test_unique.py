"""A unique task's key: its digest, and the envelope field that carries it."""

from __future__ import annotations

import pytest

from taskqueue.decoding import decode
from taskqueue.exceptions import PoisonMessage
from taskqueue.protocol import with_unique
from taskqueue.taskoptions import TaskLimits
from taskqueue.unique import digest
from tests.helpers import sample_envelope

PLAIN = TaskLimits(path="app.tasks.fn", unique_for=10)


def test_the_default_key_is_the_arguments_whatever_the_keyword_order():
    assert digest(PLAIN, [1], {"a": 1, "b": 2}) == digest(PLAIN, [1], {"b": 2, "a": 1})
    assert digest(PLAIN, [1], {}) != digest(PLAIN, [2], {})


def test_the_task_path_is_part_of_the_key():
    other = TaskLimits(path="app.tasks.other", unique_for=10)
    assert digest(PLAIN, [1], {}) != digest(other, [1], {})


def test_a_unique_key_that_returns_no_string_is_a_type_error():
    keyed = TaskLimits(path="app.tasks.fn", unique_for=10, unique_key=lambda a, k: 5)
    with pytest.raises(TypeError, match="returned int, not str"):
        digest(keyed, [1], {})


def test_the_unique_field_is_the_last_and_survives_a_round_trip_and_a_retry():
    key = digest(PLAIN, [1, 2], {})
    envelope = sample_envelope(unique=key)
    raw = envelope.encode()

    assert raw == with_unique(sample_envelope().encode(), key)
    assert decode(raw, max_bytes=10**6, queue="default").unique == key
    assert envelope.next_attempt().unique == key


@pytest.mark.parametrize("bad", ['"xyz"', "5", '"' + "A" * 40 + '"'])
def test_a_unique_field_that_is_not_a_digest_is_poison(bad):
    raw = sample_envelope().encode()[:-1] + b',"unique":' + bad.encode() + b"}"
    with pytest.raises(PoisonMessage, match="'unique' is not a key digest"):
        decode(raw, max_bytes=10**6, queue="default")
