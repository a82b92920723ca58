"""RedisBackend through Django's Tasks API against a real Redis."""

from __future__ import annotations

import gc
import os
import threading
from datetime import timedelta

import pytest
from django import db
from django.db import transaction

from taskqueue.backends import backend_for, enqueue_many
from taskqueue.compat import InvalidTask, TaskResultDoesNotExist, TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis
from tests.process.test_crash import _ping, _point_backend_at

pytestmark = pytest.mark.django_db(transaction=True)


def test_enqueue_pushes_one_message_and_a_ready_result(broker):
    result = tasks.add.enqueue(2, 3)

    assert result.status == TaskResultStatus.READY
    assert broker.stats("default").pending == 1
    fetched = tasks.add.get_result(result.id)
    assert fetched.status == TaskResultStatus.READY
    assert fetched.args == [2, 3]


def test_arguments_that_are_not_json_are_refused_at_enqueue(broker):
    with pytest.raises(TypeError, match="Task arguments must be JSON"):
        tasks.add.enqueue(object(), 1)
    with pytest.raises(TypeError, match="finite"):
        tasks.add.enqueue(float("nan"), 1)
    assert broker.stats("default").pending == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_inside_a_rolled_back_transaction_never_reaches_redis(broker):
    class Rollback(Exception):
        pass

    def enqueue_then_fail() -> None:
        with transaction.atomic():
            tasks.add.enqueue(1, 1)
            assert broker.stats("default").pending == 0
            raise Rollback

    with pytest.raises(Rollback):
        enqueue_then_fail()

    assert broker.stats("default").pending == 0


@pytest.mark.django_db(transaction=True)
def test_enqueue_inside_a_transaction_waits_for_commit(broker):
    with transaction.atomic():
        tasks.add.enqueue(1, 1)
        assert broker.stats("default").pending == 0
    assert broker.stats("default").pending == 1


def test_bulk_enqueue_pushes_everything_in_one_call(broker):
    results = enqueue_many(tasks.add, [((i, i), {}) for i in range(500)])

    assert len({r.id for r in results}) == 500
    assert broker.stats("default").pending == 500


def test_bulk_results_are_built_when_read_and_match_what_was_queued(broker):
    results = enqueue_many(tasks.add, (((i, 1), {}) for i in range(300)))

    assert len(results) == 300
    assert results[7] is results[7]
    assert [r.args for r in results[2:4]] == [[2, 1], [3, 1]]
    last = results[-1]
    assert (last.status, last.args, last.kwargs) == (
        TaskResultStatus.READY,
        [299, 1],
        {},
    )
    assert tasks.add.get_result(last.id).args == [299, 1]
    assert [r.id for r in results] == [r.id for r in list(results)]


def test_a_bulk_call_that_is_not_json_queues_nothing(broker):
    calls = [((1, 1), {}), ((object(), 1), {}), ((2, 2), {})]

    with pytest.raises(TypeError, match="Task arguments must be JSON"):
        enqueue_many(tasks.add, calls)
    assert broker.stats("default").pending == 0
    assert broker.client.hlen(broker.keys("default").ready) == 0


def test_enqueue_reconnects_when_the_server_closed_its_connection(broker):
    tasks.add.enqueue(1, 1)
    # A restart or an idle timeout: the server drops the connection enqueue
    # holds (only it: other test processes share this server).
    (held,) = broker.wire.send(("CLIENT", "ID"))
    assert broker.client.client_kill_filter(_id=held) == 1

    result = tasks.add.enqueue(2, 2)

    assert broker.stats("default").pending == 2
    assert tasks.add.get_result(result.id).args == [2, 2]


def test_threads_that_enqueue_and_end_leave_no_connection_open(settings, key_prefix):
    # Its own server: the shared one's client list has other test processes'.
    server = PrivateRedis().start()
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        broker = backend_for().broker
        tasks.add.enqueue(0, 0)  # this thread's connection
        before = len(broker.client.client_list(_type="normal"))

        def request() -> None:  # as a thread-per-request server runs a view
            try:
                tasks.add.enqueue(1, 1)
            finally:
                db.connections.close_all()  # what request_finished does

        for _ in range(20):
            thread = threading.Thread(target=request)
            thread.start()
            thread.join(timeout=10)
        gc.collect()

        assert broker.stats("default").pending == 21
        # A connection kept past its thread would leave 20 more.
        assert len(broker.client.client_list(_type="normal")) <= before + 1
    finally:
        server.kill()


def test_a_forked_child_never_writes_on_its_parents_connection(broker):
    own_id = broker.wire.send(("CLIENT", "ID"))[0]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: enqueue, report its connection's id, leave at once
        code = 1
        try:
            os.close(read)
            tasks.add.enqueue(5, 5)
            os.write(write, str(broker.wire.send(("CLIENT", "ID"))[0]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_id = pipe.read()
    _, status = os.waitpid(pid, 0)
    tasks.add.enqueue(6, 6)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id
    assert int(child_id) != own_id
    assert broker.wire.send(("CLIENT", "ID"))[0] == own_id
    assert broker.stats("default").pending == 2


def test_a_task_the_claim_started_reads_running_with_its_arguments(broker):
    from taskqueue.broker import ClaimPolicy

    result = tasks.add.enqueue(2, 3)
    policy = ClaimPolicy(max_batch=1, worker_timeout=30, result_ttl=60)
    assert len(broker.claim("default", "consumer-1", policy).messages) == 1

    fetched = tasks.add.get_result(result.id)
    assert fetched.status == TaskResultStatus.RUNNING
    assert fetched.args == [2, 3]
    assert fetched.started_at is not None


def test_run_after_and_priority_land_in_their_sets(broker):
    tasks.add.using(run_after=timedelta(hours=1)).enqueue(1, 2)
    tasks.high_add.enqueue(1, 2)

    assert broker.stats("default").scheduled == 1
    assert broker.stats("high").pending == 1
    ready = broker.client.hgetall(broker.keys("default").ready)
    assert [tasks.add.get_result(i.decode()).status for i in ready] == [
        TaskResultStatus.READY
    ]


def test_unknown_result_id_raises(backend):
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("nope")


def test_unknown_queue_is_refused(backend):
    with pytest.raises(InvalidTask):
        tasks.add.using(queue_name="nowhere")


def test_enqueue_sends_task_enqueued_with_the_backend_as_sender(broker):
    from taskqueue.backends import RedisBackend
    from taskqueue.compat import task_enqueued

    received = []

    def receiver(sender, task_result, **kwargs):
        received.append((sender, task_result.id, task_result.status))

    task_enqueued.connect(receiver)
    try:
        result = tasks.add.enqueue(1, 2)
    finally:
        task_enqueued.disconnect(receiver)

    assert received == [(RedisBackend, result.id, TaskResultStatus.READY)]
