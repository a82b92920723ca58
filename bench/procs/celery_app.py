"""Celery's app and tasks (run by `celery worker -P solo -c 1`), results off."""

from celery import Celery

from bench.procs import common

common.setup_django()

app = Celery("bench", broker=common.REDIS_URL)
app.conf.update(
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
)


@app.task
def noop() -> None:
    return None


@app.task
def orm(recipe_id: int) -> None:
    common.orm_work(recipe_id)


@app.task
def start() -> None:
    common.mark_start()


@app.task
def done() -> None:
    common.mark_done()


@app.task
def stamp(enqueued_at: float) -> None:
    common.stamp(enqueued_at)
