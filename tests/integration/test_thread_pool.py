"""The threads pool in-process against a real Redis: a consumer thread that dies."""

from __future__ import annotations

import pytest

from taskqueue import registry
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.execute import Executor
from taskqueue.worker.loop import Consumer
from taskqueue.worker.pools import CRASHED, ThreadPool
from taskqueue.worker.stop import StopFlag
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def factory_for(backend, *, dying: int):
    """Consumers as runworker makes them; the first ``dying`` die after a claim."""
    made: list[Consumer] = []
    config = WorkerConfig(queues=("default",), burst=True, pool="threads")
    stop = StopFlag()

    def make(consumer_id: str) -> Consumer:
        executor = Executor(
            tasks=registry.tasks(backend.config.task_modules),
            options=backend.config, consumer=consumer_id,
        )  # fmt: skip
        consumer = Consumer(
            config=config, broker=backend.broker, executor=executor, stop=stop,
            consumer_id=consumer_id,
        )  # fmt: skip
        if len(made) < dying:
            consumer.process = _die  # type: ignore[method-assign]
        made.append(consumer)
        return consumer

    return make, made


def _die(batch: object) -> None:
    raise RuntimeError("a bug outside any task")


def test_a_dead_consumer_hands_back_at_once_and_is_replaced(backend, broker):
    results = [tasks.add.enqueue(i, i) for i in range(10)]
    make, made = factory_for(backend, dying=1)

    assert ThreadPool(make, "w", 1).run() == 0

    assert [tasks.add.get_result(r.id).return_value for r in results] == [
        2 * i for i in range(10)
    ]
    assert len(made) == 2
    assert broker.in_flight("default", made[0].id) == []
    assert broker.client.zscore(broker.keys("default").consumers, made[0].id) is None


def test_a_pool_whose_consumers_keep_dying_exits_non_zero(backend, broker):
    results = [tasks.add.enqueue(i, i) for i in range(3)]
    make, made = factory_for(backend, dying=100)

    assert ThreadPool(make, "w", 1).run() == CRASHED

    assert all(broker.in_flight("default", c.id) == [] for c in made)
    assert broker.stats("default").pending == len(results)  # all handed back
