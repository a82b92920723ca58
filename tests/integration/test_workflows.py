"""Workflows against a real Redis, run by an in-process consumer (burst).

Chains release each step from the settle of the one before; groups release
their callback from the settle that completes them; both count a step once,
whatever settles it twice.
"""

from __future__ import annotations

import time

import orjson
import pytest

import taskqueue
from taskqueue import registry, workflows
from taskqueue.exceptions import WorkflowDoesNotExist
from taskqueue.store.settlement import Settlement
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.execute import Executor
from taskqueue.worker.loop import Consumer
from taskqueue.worker.stop import StopFlag
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def drain(backend, consumer_id: str = "wf.1", within: float = 10.0) -> None:
    """Run one consumer until the default queue is empty, retries included."""
    executor = Executor(
        tasks=registry.tasks(backend.config.task_modules),
        options=backend.config, consumer=consumer_id,
    )  # fmt: skip
    consumer = Consumer(
        config=WorkerConfig(queues=("default",), block_timeout=0.05),
        broker=backend.broker, executor=executor, stop=StopFlag(),
        consumer_id=consumer_id,
    )  # fmt: skip
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if not consumer.run_once() and consumer.drained():
                consumer.settler.flush()
                if (
                    backend.broker.stats("default").scheduled == 0
                    and consumer.drained()
                ):
                    return
        raise AssertionError("the queue did not drain in time")
    finally:
        consumer.shutdown()


def runs(broker, prefix: str, what: str = "runs") -> dict[str, int]:
    counts = broker.client.hgetall(f"{prefix}wf:{what}")
    return {k.decode(): int(v) for k, v in counts.items()}


def test_a_chain_passes_each_result_on_only_when_asked(backend, broker, key_prefix):
    flow = workflows.chain(
        workflows.step(tasks.wf_add, 1, plus=10),
        workflows.step(tasks.wf_add, 100),  # no previous result: 101
        workflows.step(tasks.wf_add).with_previous_result(),  # 101 + 1
        workflows.step(tasks.wf_add, plus=5).with_previous_result("n"),  # 102 + 5
    ).enqueue()

    assert taskqueue.workflow_status(flow.id).status == "READY"
    drain(backend)

    results = flow.results()
    assert [r.return_value for r in results] == [11, 101, 102, 107]
    assert results[2].args == [101]
    assert results[3].kwargs == {"n": 102, "plus": 5}
    assert runs(broker, key_prefix) == dict.fromkeys(flow.step_ids, 1)
    status = taskqueue.workflow_status(flow.id)
    assert status.status == "SUCCESSFUL"
    assert [s.status for s in status.steps] == ["SUCCESSFUL"] * 4


def test_a_failed_step_stops_its_chain_naming_itself(backend, broker, key_prefix):
    flow = workflows.chain(
        workflows.step(tasks.wf_add, 1),
        workflows.step(tasks.wf_fail, 7),
        workflows.step(tasks.wf_add, 2),
        workflows.step(tasks.wf_add, 3),
    ).enqueue()

    drain(backend)

    first, failed, *rest = flow.results()
    assert first.status == "SUCCESSFUL"
    assert failed.status == "FAILED"
    assert len(failed.errors) == 2
    for result in rest:
        assert result.status == "FAILED"
        (error,) = result.errors
        assert error.exception_class_path == "taskqueue.exceptions.WorkflowStopped"
        stored = broker.client.hget(broker.keys("default").result(result.id), "error:1")
        message = orjson.loads(stored)["str"]
        assert f"step 2 (tests.tasks.wf_fail, task {failed.id}) failed" in message
    counts = runs(broker, key_prefix)
    assert counts == {first.id: 1, failed.id: 2}  # the rest never ran
    assert taskqueue.workflow_status(flow.id).status == "FAILED"


def test_a_group_calls_back_once_with_its_id(backend, broker, key_prefix):
    flow = workflows.group(
        *(workflows.step(tasks.wf_add, i, plus=0) for i in range(10)),
        then=workflows.step(tasks.wf_collect, label="sum"),
    ).enqueue()

    drain(backend)

    callback = backend.get_result(flow.callback_id)
    assert callback.status == "SUCCESSFUL"
    assert callback.args == [flow.id]
    assert callback.return_value == sum(range(10))
    assert runs(broker, key_prefix, "callbacks") == {flow.callback_id: 1}
    status = taskqueue.workflow_status(flow.id)
    assert status.status == "SUCCESSFUL"
    assert status.finished == 10


@pytest.mark.parametrize("only_if", [False, True])
def test_a_group_with_a_failed_member_calls_back_unless_told_not_to(
    backend, broker, key_prefix, only_if
):
    flow = workflows.group(
        workflows.step(tasks.wf_add, 1),
        workflows.step(tasks.wf_fail),
        then=tasks.wf_collect,
        only_if_all_succeeded=only_if,
    ).enqueue()

    drain(backend)

    callback = backend.get_result(flow.callback_id)
    if only_if:
        assert callback.status == "FAILED"
        assert callback.errors[0].exception_class_path.endswith("WorkflowStopped")
        assert runs(broker, key_prefix, "callbacks") == {}
    else:
        assert callback.status == "SUCCESSFUL"
        assert callback.return_value == 2
        assert runs(broker, key_prefix, "callbacks") == {flow.callback_id: 1}
    assert taskqueue.workflow_status(flow.id).status == "FAILED"


def _done(broker, task_id: str, value: bytes, workflow_id: str, consumer: str):
    return Settlement(
        "done", b"raw-" + task_id.encode(), task_id, "SUCCESSFUL", value,
        workflow=workflow_id,
    )  # fmt: skip


def test_the_last_two_members_settled_at_once_or_twice_fire_the_callback_once(
    backend, broker
):
    """Two consumers settle the last two members in one script each, any order,
    and a redelivered member settles again: the callback is pushed once."""
    flow = workflows.group(
        workflows.step(tasks.wf_add, 1),
        workflows.step(tasks.wf_add, 2),
        then=tasks.wf_collect,
    ).enqueue()
    k = broker.keys("default")
    broker.client.delete(k.pending)  # the members' messages: settled by hand here
    a, b = flow.step_ids
    for consumer, task_id in (("c1", a), ("c2", b), ("c1", a), ("c2", b)):
        broker.client.rpush(k.inflight(consumer), b"raw-" + task_id.encode())
        broker.settle(
            "default", consumer, [_done(broker, task_id, b"1", flow.id, consumer)],
            ttl=60,
        )  # fmt: skip

    queued = broker.client.lrange(k.pending, 0, -1)
    assert len(queued) == 1
    assert orjson.loads(queued[0])["id"] == flow.callback_id


def test_a_settle_that_did_not_release_its_message_counts_nothing(backend, broker):
    """A message recovered by another consumer is not settled by the first:
    its workflow does not move either."""
    flow = workflows.group(
        workflows.step(tasks.wf_add, 1), then=tasks.wf_collect
    ).enqueue()
    k = broker.keys("default")
    broker.client.delete(k.pending)
    (member,) = flow.step_ids
    broker.settle(
        "default", "gone", [_done(broker, member, b"1", flow.id, "gone")], ttl=60
    )

    assert broker.client.llen(k.pending) == 0
    assert taskqueue.workflow_status(flow.id).steps[0].status == "READY"


def test_a_task_in_no_workflow_settles_as_before(backend, broker, key_prefix):
    result = tasks.add.enqueue(2, 3)
    drain(backend)
    assert backend.get_result(result.id).return_value == 5
    # This test's keys only: other tests on the shared server write workflows.
    assert not list(broker.client.scan_iter(match=f"*{key_prefix}*workflow*"))


def test_unknown_and_garbage_workflow_ids_are_does_not_exist(backend):
    for bad in ("0" * 32, "not a workflow!", "", "x" * 200):
        with pytest.raises(WorkflowDoesNotExist):
            taskqueue.workflow_status(bad)


def test_bad_workflows_are_refused_before_anything_is_sent(backend, broker):
    with pytest.raises(ValueError, match="first step of a chain"):
        workflows.chain(workflows.step(tasks.wf_add).with_previous_result()).enqueue()
    with pytest.raises(ValueError, match="at least one"):
        workflows.group()
    with pytest.raises(TypeError, match="not a task"):
        workflows.chain(len)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one queue"):
        workflows.chain(tasks.add, tasks.high_add.using(priority=0)).enqueue()
    with pytest.raises(ValueError, match="priority 0"):
        workflows.chain(tasks.add, tasks.add.using(priority=5)).enqueue()
    with pytest.raises(TypeError, match=r"step 2 \(tests.tasks.add\)"):
        workflows.chain(
            workflows.step(tasks.add, 1, 2), workflows.step(tasks.add, 1, 2, 3)
        ).enqueue()
    with pytest.raises(TypeError, match="must be JSON"):
        workflows.chain(workflows.step(tasks.add, 1, float("nan"))).enqueue()
    with pytest.raises(ValueError, match="already given"):
        workflows.step(tasks.wf_add, n=1).with_previous_result("n")
    with pytest.raises(ValueError, match="keyword argument name"):
        workflows.step(tasks.wf_add).with_previous_result("not a name")
    with pytest.raises(TypeError, match="True or False"):
        workflows.group(tasks.add, only_if_all_succeeded="yes")  # type: ignore[arg-type]
    assert broker.client.llen(broker.keys("default").pending) == 0


def test_a_previous_result_the_next_step_cannot_take_fails_it_as_poison(
    backend, broker, tmp_path
):
    flow = workflows.chain(
        workflows.step(tasks.write_marker, str(tmp_path / "marker")),  # returns a str
        workflows.step(tasks.add, 1).with_previous_result(),  # add(a: int, b: int)
        workflows.step(tasks.add, 1, 2),
    ).enqueue()

    drain(backend)

    _, poisoned, stopped = flow.results()
    assert poisoned.status == "FAILED"
    stored = broker.client.hget(
        broker.keys("default").result(poisoned.id), "error:dead"
    )
    assert orjson.loads(stored)["str"].startswith("bad arguments for tests.tasks.add")
    assert stopped.status == "FAILED"
    assert taskqueue.workflow_status(flow.id).status == "FAILED"


def test_a_garbled_workflow_hash_never_breaks_a_settle(backend, broker):
    """Whatever the workflow hash holds (written by hand), the step's own
    outcome is stored and the queue goes on."""
    flow = workflows.chain(
        workflows.step(tasks.wf_add, 1),
        workflows.step(tasks.wf_add).with_previous_result(),
    ).enqueue()
    key = broker.keys("default").workflow(flow.id)
    broker.client.hset(key, mapping={"n": "many", "cut:2": "x", "kind": "?"})
    plain = tasks.add.enqueue(1, 1)

    drain(backend)

    assert flow.results()[0].return_value == 2
    assert backend.get_result(plain.id).return_value == 2
    taskqueue.workflow_status(flow.id)  # readable, whatever it says
