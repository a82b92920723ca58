"""#161's explicit enqueue_on_commit(), beside the backend's ENQUEUE_ON_COMMIT."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django import db
from django.db import transaction

from taskqueue.compat import task_backends
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


def pending(broker) -> int:
    return broker.stats("default").pending


@pytest.fixture
def pushes_at_once(settings, key_prefix):
    """The default backend with OPTIONS ENQUEUE_ON_COMMIT = False."""
    default = settings.TASKS["default"]
    options = {**default["OPTIONS"], "ENQUEUE_ON_COMMIT": False}
    settings.TASKS = {**settings.TASKS, "default": {**default, "OPTIONS": options}}
    backend = task_backends["default"]
    assert backend.config.enqueue_on_commit is False
    return backend.broker


def test_enqueue_on_commit_waits_for_the_commit(broker):
    with transaction.atomic():
        assert tasks.add.enqueue_on_commit(1, 2) is None
        assert pending(broker) == 0
    assert pending(broker) == 1


def test_enqueue_on_commit_never_pushes_a_rolled_back_task(broker):
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            tasks.add.enqueue_on_commit(1, 2)
            raise Rollback

    with pytest.raises(Rollback):
        enqueue_then_fail()

    assert pending(broker) == 0


def test_enqueue_on_commit_outside_a_transaction_pushes_at_once(broker):
    tasks.add.enqueue_on_commit(a=1, b=2)

    assert pending(broker) == 1


def test_enqueue_on_commit_waits_even_when_the_backend_pushes_at_once(pushes_at_once):
    with transaction.atomic():
        tasks.add.enqueue(1, 1)  # ENQUEUE_ON_COMMIT = False: at once
        tasks.add.enqueue_on_commit(1, 2)  # explicit: after the commit
        assert pending(pushes_at_once) == 1
    assert pending(pushes_at_once) == 2


def test_enqueue_on_commit_keeps_using_options(broker):
    with transaction.atomic():
        tasks.add.using(metadata={"who": "me"}).enqueue_on_commit(1, 2)
    raw = broker.client.lindex(broker.keys("default").pending, 0)

    assert b'"metadata":{"who":"me"}' in raw


def test_aenqueue_on_commit_pushes(broker):
    async def request() -> None:  # as an async view runs, then request_finished
        try:
            await tasks.add.aenqueue_on_commit(1, 2)
        finally:  # the thread sync_to_async ran it in outlives the test
            await sync_to_async(db.connections.close_all)()

    asyncio.run(request())

    assert pending(broker) == 1
