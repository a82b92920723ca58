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


# Per-task control options (tests/*/test_task_options*.py, test_unique*.py,
# test_rate_limit.py, test_concurrency.py).


@task
@options(unique_for=30)
def unique_sleep(seconds: float, label: str = "") -> str:
    time.sleep(seconds)
    return label


@task
@options(unique_for=30, unique_key=lambda args, kwargs: str(args[0]), max_retries=0)
def unique_by_first(key: int, fail: bool = False) -> int:
    if fail:
        raise ValueError("asked to fail")
    return key


def _stamp(name: str) -> None:
    """Append 'name start end' (unix seconds) to the file TASKQUEUE_TEST_STAMPS names."""
    path = os.environ.get("TASKQUEUE_TEST_STAMPS")
    if path:
        with open(path, "a") as out:
            out.write(f"{name} {time.time():.6f}\n")


@task
@options(rate_limit="20/s")
def rate_limited(n: int) -> int:
    _stamp("limited")
    return n


@task
def unlimited(n: int) -> int:
    _stamp("free")
    return n


@task
@options(concurrency=2)
def capped_sleep(seconds: float) -> float:
    _stamp("start")
    time.sleep(seconds)
    _stamp("end")
    return seconds


# The per-option cost benchmark (bench/task_options.py): noop with each option set.


@task
@options(unique_for=600)
def noop_unique(n: int) -> None:
    return None


@task
@options(rate_limit="999999999/s")  # never over: the gate's cost, not its waits
def noop_rated() -> None:
    return None


@task
@options(concurrency=1_000_000)  # never full: the gate's and the release's cost
def noop_capped() -> None:
    return None
