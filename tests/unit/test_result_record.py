"""The result record owns every field of a result hash, and reading one never raises.

The Lua scripts (taskqueue/lua/*.lua) write ``{Q}:result:<id>``;
``ResultRecord`` is its only reader. A field a script starts writing that
the record does not read would be data nobody shows, so the scripts are
grepped here for the names they write, and each must be one the record reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskqueue
from taskqueue.compat import TaskResultStatus
from taskqueue.results import (
    DEAD_ERROR_FIELD,
    Field,
    ResultRecord,
    error_field,
    known_field,
)

LUA = Path(taskqueue.__file__).parent / "lua"
# A field name is a lowercase literal: 'status', 'worker:' (then an attempt).
# The workflow scripts' literals name the workflow hash's fields (the
# record fields settle_workflow.lua writes are also settle_record.lua's).
WORKFLOW_FILES = {"workflow", "settle_workflow"}
LITERAL = re.compile(r"'([a-z][a-z_]*:?)'")
# Scripts that write no result hash (a schedule's state hash; they only read a status).
NO_RESULT_WRITES = {"fire.lua", "fire_tick.lua"}


def script_literals() -> set[str]:
    """Lowercase literals the scripts use, except those compared (op == 'retry')."""
    names = set()
    for script in sorted(LUA.glob("*.lua")):
        if script.stem in WORKFLOW_FILES or script.name in NO_RESULT_WRITES:
            continue
        lines = script.read_text().splitlines()
        code = "\n".join(line.split("--", 1)[0] for line in lines)  # no comments
        for match in LITERAL.finditer(code):
            if not code[: match.start()].rstrip().endswith(("==", "~=")):
                names.add(match.group(1))
    return names


def as_field(literal: str) -> str:
    """A written name: a prefix ('worker:') stands for one with an attempt."""
    return f"{literal}1" if literal.endswith(":") else literal


WRITTEN = sorted({as_field(name) for name in script_literals()})
WRITTEN_BY_THE_SETTLE = [error_field(1), error_field(12), DEAD_ERROR_FIELD]


def test_the_grep_finds_the_fields_the_scripts_write():
    assert {"status", "msg", "started_at", "worker", "worker:1"} <= set(WRITTEN)


def test_every_field_the_record_reads_is_written_by_a_script():
    # retry_of is the one written from Python: the task page's Retry (store/retries.py)
    assert set(Field.NAMES) - {Field.RETRY_OF} <= set(WRITTEN)


@pytest.mark.parametrize("name", WRITTEN + WRITTEN_BY_THE_SETTLE)
def test_the_record_reads_each_field_that_is_written(name):
    # A field the record reads changes what it parses to, whatever it holds.
    with_it = ResultRecord.parse({name.encode(): b"1700000000"})

    assert known_field(name)
    assert with_it != ResultRecord.parse({})


@pytest.mark.parametrize("name", ["nonsense", "errors", "workers:1", "msg2"])
def test_other_names_are_not_fields(name):
    assert not known_field(name)


def test_a_settled_record_reads_as_a_task_result_would_show_it():
    record = ResultRecord.parse(
        {
            b"msg": b'{"task": "t.add", "args": [2, 3], "kwargs": {}, "p": 5}',
            b"status": b"FAILED",
            b"started_at": b"1700000000",
            b"last_attempted_at": b"1700000010",
            b"finished_at": b"1700000011",
            b"worker:2": b"w2",
            b"worker:1": b"w1",
            b"error:dead": b'{"class": "x.Dead", "str": "gone"}',
            b"error:1": b'{"class": "x.Boom", "args": [1], "str": "boom"}',
        }
    )

    assert record.status == TaskResultStatus.FAILED
    assert (record.task_path, record.args, record.priority) == ("t.add", [2, 3], 5)
    assert record.worker_ids == ["w1", "w2"]
    assert [e.exception_class for e in record.errors] == ["x.Boom", "x.Dead"]
    assert record.attempt_times()[0] == record.started_at
    assert record.unreadable == []


def test_the_starts_are_the_finished_attempts_spans_unless_one_runs_now():
    spans = {
        b"worker:1": b"w1 1700000001 1700000002",
        b"worker:2": b"w2 1700000005 1700000006",
    }
    claim = {b"started_at": b"1700000000", b"last_attempted_at": b"1700000004"}

    settled = ResultRecord.parse({b"status": b"SUCCESSFUL", **claim, **spans})
    running = ResultRecord.parse(
        {b"status": b"RUNNING", **claim, b"worker:1": spans[b"worker:1"]}
    )
    claimed = ResultRecord.parse({b"status": b"RUNNING", **claim})

    assert [t.timestamp() for t in settled.attempt_times()] == [1700000001, 1700000005]
    assert [t.timestamp() for t in running.attempt_times()] == [1700000001, 1700000004]
    assert [t.timestamp() for t in claimed.attempt_times()] == [1700000000, 1700000004]


def test_a_claimed_poison_message_never_started():
    record = ResultRecord.parse({b"status": b"FAILED", b"started_at": b"1700000000"})

    assert record.started_at is not None
    assert record.attempt_times() == (None, None)


raw_records = st.dictionaries(
    st.sampled_from(
        [*(n.encode() for n in Field.NAMES), b"worker:1", b"error:2", b"error:x"]
    )
    | st.binary(max_size=8),
    st.binary(max_size=16) | st.sampled_from([b"{}", b"[]", b'{"task": 5}', b"1e999"]),
)


@given(raw_records)
def test_reading_any_hash_never_raises(raw):
    record = ResultRecord.parse(raw)

    assert isinstance(record.unreadable, list)
    assert len(record.worker_ids) >= len(record.finished_by)
    record.attempt_times()
    if record.status is not None:
        record.task_result("t1", task=None, alias="default")
