"""Module-level tasks the tests enqueue (a worker subprocess imports them too)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from taskqueue.compat import TaskContext, task
from taskqueue.exceptions import PermanentError
from taskqueue.policy import options


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def noop() -> None:
    return None


@task(queue_name="high", priority=10)
def high_add(a: int, b: int) -> int:
    return a + b


@task
async def async_multiply(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a * b


@task
@options(max_retries=2, retry_backoff=0.01, retry_backoff_max=0.02)
def always_fails(message: str) -> None:
    raise ValueError(message)


@task
@options(max_retries=0)
def fails_once_then_gives_up(message: str) -> None:
    raise RuntimeError(message)


@task
def permanent_failure() -> None:
    raise PermanentError("cannot ever work")


@task
def returns_unserializable() -> object:
    return object()


@task(takes_context=True)
def attempt_number(context: TaskContext) -> int:
    return context.attempt


@task
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
@options(time_limit=0.5, max_retries=0)
def runs_forever() -> None:
    while True:
        time.sleep(0.05)


@task
def write_marker(path: str) -> str:
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return path


@task
@options(time_limit=0.5, max_retries=0)
def ignores_time_limit() -> str:
    """Swallows TimeLimitExceeded: only replacing the process can stop it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except Exception:  # noqa: BLE001, S112 (deliberately deaf to the limit)
            continue
    return "ran to the end"


@task
async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@task
def raises_system_exit() -> None:
    raise SystemExit(3)


@task
def raises_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


@task
def raises_generator_exit() -> None:
    raise GeneratorExit


@task
def calls_exit() -> None:
    exit()


@task
async def async_raises_system_exit() -> None:
    raise SystemExit(4)


@task(takes_context=True)
@options(max_retries=0)
def count_once(context: TaskContext, recipe_id: int) -> int:
    """One database effect per task id, and no retries: an outage would fail it."""
    from django.db.models import F

    from recipe.models import Recipe
    from taskqueue.idempotency import once_per_task

    with once_per_task(context.task_result.id) as first:
        if first:
            Recipe.objects.filter(id=recipe_id).update(
                processed_count=F("processed_count") + 1
            )
    return recipe_id


@task
@options(time_limit=0.5, max_retries=0)
def holds_the_gil() -> None:
    """C code that never lets go of the GIL: SIGALRM and threads cannot run.

    (A pathological regex is not one: sre checks for signals as it goes.)
    """
    sum(range(10**13))  # hours in one C loop that checks for nothing


@task
@options(time_limit=0.5, max_retries=0)
async def async_swallows_cancel() -> str:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        with contextlib.suppress(asyncio.CancelledError):  # a careless task
            await asyncio.sleep(0.05)
    return "late"


@task
@options(time_limit=0.5, max_retries=0)
async def async_blocks_its_loop() -> str:
    time.sleep(8)
    return "late"


@task
@options(max_retries=0)
def query_pause_query(seconds: float) -> int:
    """A query, a pause, another query: a database cut in the pause fails the second."""
    from recipe.models import Recipe

    Recipe.objects.count()
    time.sleep(seconds)
    return Recipe.objects.count()


@task(takes_context=True)
@options(max_retries=0)
def record_run(context: TaskContext, path: str) -> None:
    """One line per run, the task's id and the worker's pid (one O_APPEND write:
    lines never mix), so a test counts how often each task ran, and where."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{context.task_result.id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


@task(takes_context=True)
@options(max_retries=0)
def count_once_slowly(context: TaskContext, recipe_id: int, seconds: float) -> int:
    """count_once that takes a while: a worker holds some in flight when cut off."""
    time.sleep(seconds)
    return int(count_once.func(context, recipe_id))
