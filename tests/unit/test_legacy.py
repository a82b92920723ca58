"""The bounded literal reader for the original system's str(dict) messages."""

from __future__ import annotations

import pytest

from taskqueue.legacy import MAX_LEGACY_BYTES, parse_literal


def test_reads_what_str_of_a_dict_writes():
    value = {
        "recipe_id": 5,
        "name": "Soup",
        "tags": ["a", "b"],
        "ok": True,
        "x": None,
        "n": -1.5,
    }

    assert parse_literal(str(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "{'a': open('/etc/passwd')}",
        "{'a': 1 + 1}",
        "{**{'a': 1}}",
        "{'a': b'bytes'}",
        "{1: 'int key'}",
        "lambda: 1",
        "{'a': {1, 2}}",
    ],
)
def test_refuses_anything_that_is_not_a_plain_literal(text):
    with pytest.raises(ValueError, match=r"allowed|not|unsupported|must"):
        parse_literal(text)


def test_refuses_deep_nesting_and_large_input():
    with pytest.raises(ValueError, match="deeper"):
        parse_literal("[" * 30 + "]" * 30)
    with pytest.raises(ValueError, match="over"):
        parse_literal("{'a': '" + "x" * MAX_LEGACY_BYTES + "'}")
