"""Dramatiq's broker and actors (run by `dramatiq -p 1 -t 1`); no Results middleware."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.procs import common

common.setup_django()
dramatiq.set_broker(RedisBroker(url=common.REDIS_URL))


@dramatiq.actor(max_retries=0)
def noop() -> None:
    return None


@dramatiq.actor(max_retries=0)
def orm(recipe_id: int) -> None:
    common.orm_work(recipe_id)


@dramatiq.actor(max_retries=0)
def start() -> None:
    common.mark_start()


@dramatiq.actor(max_retries=0)
def done() -> None:
    common.mark_done()


@dramatiq.actor(max_retries=0)
def stamp(enqueued_at: float) -> None:
    common.stamp(enqueued_at)
