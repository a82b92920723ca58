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


# Workflows (tests/*/test_workflows.py): each run counts itself per task id in
# a Redis hash under the test's key prefix, so a test sees how often each
# step really ran.
def _count_run(context: TaskContext, what: str = "runs") -> None:
    from taskqueue.backends import backend_for

    backend = backend_for(context.task_result.backend)
    result, prefix = context.task_result, backend.config.key_prefix
    consumer = result.worker_ids[-1] if result.worker_ids else "-"
    client = backend.broker.client
    client.hincrby(f"{prefix}wf:{what}", result.id, 1)
    client.rpush(f"{prefix}wf:log", f"{result.id} {consumer}")


@task(takes_context=True)
def wf_add(context: TaskContext, n: int, plus: int = 1, pause: float = 0.0) -> int:
    _count_run(context)
    time.sleep(pause)
    return n + plus


@task(takes_context=True)
@options(max_retries=1, retry_backoff=0.01, retry_backoff_max=0.02)
def wf_fail(context: TaskContext, n: int = 0) -> None:
    _count_run(context)
    raise ValueError(f"step failed on {n}")


@task(takes_context=True)
def wf_collect(context: TaskContext, group_id: str, label: str = "") -> int:
    """A group's callback: the sum of the members' return values."""
    from taskqueue.workflows import group_results

    _count_run(context, "callbacks")
    results = group_results(group_id, backend=context.task_result.backend)
    return sum(r.return_value for r in results if r.status == "SUCCESSFUL")


@task(takes_context=True)
def wf_until(context: TaskContext, at: float, value: int = 1) -> int:
    """Finish at the wall time ``at``: two workers end two members together."""
    _count_run(context)
    time.sleep(max(0.0, at - time.time()))
    return value


@task(takes_context=True)
def reports_progress(context: TaskContext, marker: str, steps: int) -> str:
    """Publishes progress 0..100, waiting for a file to appear between steps."""
    import pathlib

    for step in range(steps + 1):
        context.metadata["progress"] = step * 100 // steps
        context.save_metadata()
        if step == 0:
            deadline = time.monotonic() + 10
            while not pathlib.Path(marker).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
    return context.metadata.get("label", "")


@task(takes_context=True)
@options(max_retries=1, retry_backoff=0.01, retry_backoff_max=0.01)
def counts_attempts_in_metadata(context: TaskContext) -> int:
    """Keeps a count in metadata without saving it: the end of each run saves it."""
    context.metadata["runs"] = context.metadata.get("runs", 0) + 1
    if context.attempt == 1:
        raise RuntimeError("first attempt fails")
    return context.metadata["runs"]


@task(takes_context=True)
async def async_saves_metadata(context: TaskContext) -> dict:
    context.metadata["stage"] = "async"
    await context.asave_metadata()
    return context.metadata


BACKOFF_CALLS: list[tuple[BaseException, object]] = []


def recording_backoff(exception: BaseException, task_result: object) -> float | None:
    """A #142 backoff that records what it is given: retry once, then stop."""
    BACKOFF_CALLS.append((exception, task_result))
    return 0.01 if len(BACKOFF_CALLS) < 2 else None


def broken_backoff(exception: BaseException, task_result: object) -> object:
    return "soon"


class Flaky(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status  # what a backoff reads off the raw exception


@task
@options(max_attempts=5, backoff=recording_backoff)
def fails_with_status(status: int) -> None:
    raise Flaky(status)


@task
@options(max_attempts=3, backoff=broken_backoff)
def fails_with_broken_backoff() -> None:
    raise RuntimeError("boom")


@task
@options(max_attempts=1)
def fails_with_one_attempt() -> None:
    raise RuntimeError("only once")


@task
@options(soft_timeout=0.3, timeout=5, max_retries=0)
def catches_its_soft_timeout() -> str:
    """Cleans up at its soft timeout: what it caught is the result."""
    from taskqueue.exceptions import TaskTimeout

    try:
        while True:
            time.sleep(0.02)
    except TaskTimeout as exc:
        return f"{type(exc).__name__} TimeoutError={isinstance(exc, TimeoutError)}"


@task
@options(timeout=0.4, max_attempts=2, retry_backoff=0.01, retry_backoff_max=0.01)
def loops_past_its_timeout() -> None:
    while True:
        time.sleep(0.02)


@task
@options(timeout=0.4, max_attempts=2, retry_backoff=0.01, retry_backoff_max=0.01)
async def async_loops_past_its_timeout() -> None:
    while True:
        await asyncio.sleep(0.02)


@task
@options(soft_timeout=0.3, timeout=5, max_retries=0)
async def async_catches_its_soft_timeout() -> str:
    try:
        while True:
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:
        return "cancelled"  # swallowed: still recorded as timed out


@task(takes_context=True)
def stops_when_cancelled(context: TaskContext, path: str) -> str:
    """Cooperative: polls taskqueue.cancel_requested, notes when it saw it."""
    import taskqueue

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if taskqueue.cancel_requested(context):
            with open(path, "w") as handle:
                handle.write("saw the cancel")
            return "stopped"
        time.sleep(0.02)
    return "never cancelled"


@task
async def async_waits_for_cancel(path: str) -> str:
    """Sleeps; notes the CancelledError it gets when cancelled, then lets it go."""
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        with open(path, "w") as handle:
            handle.write("cancelled")
        raise
    return "slept"


@task
@options(max_retries=2, retry_backoff=600, retry_backoff_max=600)
def fails_then_waits_long() -> None:
    """Fails, and its retry waits ten minutes in the scheduled set."""
    raise RuntimeError("try again later")


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


@task(takes_context=True)
def scheduled_run(context: TaskContext, seconds: float = 0.0) -> None:
    """A schedule's test task: appends "<task id> <start> <end>" (server-free
    wall times) to the test's Redis list ``<prefix>test:runs``, sleeping between."""
    from taskqueue.connection import make_client

    started = time.time()
    time.sleep(seconds)
    client = make_client(os.environ["REDIS_URL"])
    key = os.environ.get("TASKQUEUE_KEY_PREFIX", "") + "test:runs"
    client.rpush(key, f"{context.task_result.id} {started} {time.time()}")
    client.close()


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


@task
@options(max_retries=0)
def fails_until_file_exists(path: str) -> str:
    """Fails (no retries) while ``path`` is missing: a Retry pressed after the
    file is written succeeds, with the same arguments."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no file at {path}")
    return "found it"
