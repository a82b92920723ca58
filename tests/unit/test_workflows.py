"""The workflow field of the envelope, and where a previous result is spliced in."""

from __future__ import annotations

import orjson
import pytest

from taskqueue.decoding import decode
from taskqueue.exceptions import PoisonMessage
from taskqueue.protocol import Envelope
from taskqueue.workflows import Step, _splice_fields, valid_id


def envelope(**changes) -> Envelope:
    fields = {
        "id": "a1", "task": "tests.tasks.wf_add", "args": [], "kwargs": {},
        "queue": "default", "enqueued_at": 1.0, **changes,
    }  # fmt: skip
    return Envelope(**fields)


def test_the_workflow_id_is_the_last_field_and_survives_a_retry():
    message = envelope(workflow="w1").encode()

    assert message.endswith(b',"workflow":"w1"}')
    decoded = decode(message, max_bytes=10_000, queue="default")
    assert decoded.workflow == "w1"
    assert decoded.next_attempt().workflow == "w1"


def test_a_task_in_no_workflow_is_encoded_as_before():
    assert b"workflow" not in envelope().encode()
    assert (
        decode(envelope().encode(), max_bytes=10_000, queue="default").workflow is None
    )


@pytest.mark.parametrize("bad", [5, "", "a b", "x" * 64, ["w"], True])
def test_a_workflow_field_that_is_not_an_id_is_poison(bad):
    message = orjson.dumps({**orjson.loads(envelope().encode()), "workflow": bad})

    with pytest.raises(PoisonMessage, match="workflow"):
        decode(message, max_bytes=10_000, queue="default")


def splice(message: bytes, fields: dict, key: str, value: bytes) -> dict:
    cut, pre, sep = fields[f"cut:{key}"], fields[f"pre:{key}"], fields[f"sep:{key}"]
    return orjson.loads(message[:cut] + pre + value + sep + message[cut:])


# Arguments that hold the very text a search for the insertion point would find.
TRICKY = [
    ((), {}),
    ((1, "2"), {}),
    (({"a": 1, "kwargs": {}},), {"x": ',"kwargs":{'}),
    (('"args":[',), {"args": [], "kwargs": {"k": 1}}),
]


@pytest.mark.parametrize(("args", "kwargs"), TRICKY)
@pytest.mark.parametrize("keyword", [None, "previous"])
def test_the_previous_result_lands_where_asked_whatever_the_arguments(
    args, kwargs, keyword
):
    message = envelope(args=list(args), kwargs=kwargs, workflow="w").encode()
    item = Step(task=object(), args=args, kwargs=kwargs)  # type: ignore[arg-type]
    item = item.with_previous_result(keyword)

    fields = _splice_fields(message, item, "2")
    spliced = splice(message, fields, "2", b'{"rows":[1,2]}')

    if keyword is None:
        assert spliced["args"] == [{"rows": [1, 2]}, *args]
        assert spliced["kwargs"] == kwargs
    else:
        assert spliced["kwargs"] == {"previous": {"rows": [1, 2]}, **kwargs}
        assert spliced["args"] == list(args)


@pytest.mark.parametrize("value", ["0" * 32, "a-b_c", "x"])
def test_valid_ids(value):
    assert valid_id(value)


@pytest.mark.parametrize("value", ["", "x" * 64, "a/b", None, 5, "a b"])
def test_invalid_ids(value):
    assert not valid_id(value)
