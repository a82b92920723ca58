"""Huey's instance and tasks (run by `huey_consumer -k thread -w 1`), results off."""

from huey import RedisHuey

from bench.procs import common

common.setup_django()
huey = RedisHuey("bench", url=common.REDIS_URL, results=False)


@huey.task()
def noop() -> None:
    return None


@huey.task()
def orm(recipe_id: int) -> None:
    common.orm_work(recipe_id)


@huey.task()
def start() -> None:
    common.mark_start()


@huey.task()
def done() -> None:
    common.mark_done()


@huey.task()
def stamp(enqueued_at: float) -> None:
    common.stamp(enqueued_at)
