"""Django 6 Tasks (`django.tasks.task`) for the Django Tasks peers.

Whichever backend bench.django6_settings made TASKS["default"] runs them;
imported by that backend's worker once Django is set up (the driver sets it
up first). Results are not read, and return values are None.
"""

from django.tasks import task

from bench.procs import common


@task
def noop() -> None:
    return None


@task
def orm(recipe_id: int) -> None:
    common.orm_work(recipe_id)


@task
def start() -> None:
    common.mark_start()


@task
def done() -> None:
    common.mark_done()


@task
def stamp(enqueued_at: float) -> None:
    common.stamp(enqueued_at)
