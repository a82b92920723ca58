"""Task metadata (django/new-features#141): using(), context, save, readers."""

from __future__ import annotations

import pytest

from taskqueue.compat import TaskResultStatus
from taskqueue.metadata import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from taskqueue.results import ResultRecord
from taskqueue.web.dashboard import result_row
from tests import tasks
from tests.helpers import dead_reasons, envelope_bytes
from tests.inprocess import InProcessWorker
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(broker):
    w = InProcessWorker(broker)
    yield w
    w.close()


def finished(backend, result_id):
    return backend.get_result(result_id).status in (
        TaskResultStatus.SUCCESSFUL,
        TaskResultStatus.FAILED,
    )


def test_the_backend_says_it_supports_metadata(backend):
    assert backend.supports_metadata is True


def test_metadata_given_at_enqueue_is_read_back_before_and_after_the_run(
    backend, worker
):
    result = tasks.add.using(metadata={"trace_id": 123}).enqueue(1, 2)

    assert result.metadata == {"trace_id": 123}
    assert backend.get_result(result.id).metadata == {"trace_id": 123}
    worker.run_until(lambda: finished(backend, result.id))
    assert backend.get_result(result.id).metadata == {"trace_id": 123}


def test_a_task_without_metadata_reads_an_empty_dict(backend, broker):
    result = tasks.add.enqueue(1, 2)

    assert backend.get_result(result.id).metadata == {}
    assert b"metadata" not in broker.client.lindex(broker.keys("default").pending, 0)


def test_a_changed_context_metadata_is_saved_at_the_end_and_carried_into_a_retry(
    backend, worker
):
    result = tasks.counts_attempts_in_metadata.using(metadata={"runs": 0}).enqueue()

    worker.run_until(lambda: finished(backend, result.id))

    stored = backend.get_result(result.id)
    assert stored.status == TaskResultStatus.SUCCESSFUL
    assert stored.return_value == 2
    assert stored.metadata == {"runs": 2}


def test_an_async_task_saves_its_metadata(backend, worker):
    result = tasks.async_saves_metadata.using(metadata={"n": 1}).enqueue()

    worker.run_until(lambda: finished(backend, result.id))

    assert backend.get_result(result.id).metadata == {"n": 1, "stage": "async"}


def test_the_api_and_the_dashboard_row_show_the_metadata(
    token_client, backend, broker, worker
):
    result = tasks.add.using(metadata={"progress": 40}).enqueue(1, 2)
    worker.run_until(lambda: finished(backend, result.id))

    body = token_client.get(f"/api/tasks/{result.id}/").json()
    record = ResultRecord.parse(*broker.result_record(result.id, ["default"]))

    assert body["metadata"] == {"progress": 40}
    assert result_row(result.id, record, "default")["metadata"] == "progress=40"


@pytest.mark.parametrize(
    ("metadata", "error", "message"),
    [
        ([1, 2], TypeError, "must be a dict"),
        ({"x": object()}, TypeError, "must be JSON"),
        ({"x": float("nan")}, TypeError, "must be JSON"),
        ({1: "int key"}, TypeError, "must be JSON"),
        ({"x": "y" * MAX_METADATA_BYTES}, ValueError, "bytes is over"),
        ({"x": [[[[[[[[[1]]]]]]]]]}, ValueError, f"deeper than {MAX_METADATA_DEPTH}"),
    ],
)
def test_bad_metadata_is_refused_at_using(backend, metadata, error, message):
    with pytest.raises(error, match=message):
        tasks.add.using(metadata=metadata)


def test_a_message_whose_metadata_is_not_an_object_is_poison(broker, worker):
    raw = envelope_bytes(task="tests.tasks.add", args=[1, 2])
    raw = raw[:-1] + b',"metadata":[1]}'
    broker.client.rpush(broker.keys("default").pending, raw)

    worker.run_until(lambda: dead_reasons(broker))

    assert dead_reasons(broker) == ["envelope field 'metadata' has the wrong type"]
