"""RQ's tasks (run by `rq worker -w rq.worker.SimpleWorker --burst`)."""

from bench.procs import common

common.setup_django()


def noop() -> None:
    return None


def orm(recipe_id: int) -> None:
    common.orm_work(recipe_id)


def start() -> None:
    common.mark_start()


def done() -> None:
    common.mark_done()


def stamp(enqueued_at: float) -> None:
    common.stamp(enqueued_at)
