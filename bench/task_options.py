"""What each per-task control option costs per task, set and unset.

    .venv/bin/python -m bench.task_options [--n 5000] [--repeats 3] [--root DIR]

A private redis-server and SQLite file in a temp dir. For each task of
``tests.tasks`` (``noop``: no option; ``noop_unique``, ``noop_rated``,
``noop_capped``: one option each, never limiting, so the figure is the
option's own cost; ``chain step`` and ``group member``: ``noop`` as a step
of chains, or a member of groups (no callback), of WIDTH tasks each) it
measures, per task, in microseconds:

- enqueue: ``task.enqueue()`` in a loop, and ``enqueue_many`` of n (a
  workflow: its ``enqueue()``, one script per WIDTH tasks, in both columns);
- run: a burst ``runworker --pool solo`` on n queued tasks, from the first
  task's start to the last one's finish (the records' times), so process
  start-up is left out.

``bench/run.py`` calls ``one_repeat`` inside each of its repeats, so the
figures in docs/benchmarks.md come from the same run as the rest.

``--root DIR`` runs the same on another checkout (e.g. main) for the unset
row: tasks that checkout lacks are skipped. Median of the repeats.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import records

TASKS = {
    "noop": lambda i: ((), {}),
    "noop_unique": lambda i: ((i,), {}),
    "noop_rated": lambda i: ((), {}),
    "noop_capped": lambda i: ((), {}),
}
# Workflows of WIDTH plain no-op tasks: the option is the membership itself.
WORKFLOWS = ("chain step", "group member")
WIDTH = 10
CHOICES = [*TASKS, *WORKFLOWS]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(__file__).parent.parent)
    parser.add_argument("--tasks", nargs="*", default=CHOICES, choices=CHOICES)
    return parser.parse_args()


def main() -> int:
    args = parse()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    from bench.redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="taskqueue-options-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            env = environment(server.url, Path(tmp), root)
            os.environ.update(env)
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=root, env=env, check=True, timeout=300,
            )  # fmt: skip
            import django

            django.setup()
            rows = measure(args, env, root)
        finally:
            server.stop()
    print(f"code: {root}  n={args.n}  repeats={args.repeats}  (us per task, median)")
    print(f"{'task':<14}{'enqueue()':>12}{'enqueue_many':>14}{'run':>10}")
    for name, row in rows.items():
        print(  # a workflow's two enqueue columns are the same call
            f"{name:<14}{row['enqueue']:>12.1f}{row['enqueue_many']:>14.1f}"
            f"{row['run']:>10.1f}"
        )
    return 0


def environment(url: str, tmp: Path, root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": url,
        "TEST_REDIS_URL": url,
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "TASKQUEUE_VAR_DIR": str(tmp / "var"),
        "TASKQUEUE_WORKER_TIMEOUT": "30",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "PYTHONPATH": str(root),
    }


def measure(args: argparse.Namespace, env: dict[str, str], root: Path) -> dict:
    names = [n for n in args.tasks if present(n)]
    samples: dict[str, dict[str, list[float]]] = {
        n: {"enqueue": [], "enqueue_many": [], "run": []} for n in names
    }
    for _ in range(args.repeats):  # interleaved, so drift hits all alike
        for name, row in one_repeat(env, root, n=args.n, names=names).items():
            for key, value in row.items():
                samples[name][key].append(value)
    return {
        name: {k: statistics.median(v) for k, v in one.items()}
        for name, one in samples.items()
    }


def present(name: str) -> bool:
    """The checkout has this task, or workflows (``--root`` on an older one)."""
    if name in WORKFLOWS:
        import importlib.util

        return importlib.util.find_spec("taskqueue.workflows") is not None
    from tests import tasks

    return hasattr(tasks, name)


def one_repeat(
    env: dict[str, str], root: Path, *, n: int, names: list[str] | None = None
) -> dict[str, dict[str, float]]:
    """Each kind's enqueue and run cost once, in ``names``' order (µs per task).

    ``env`` is a worker's environment (tests.settings, the Redis and the
    database this process's Django uses); the queue is flushed around each.
    """
    out: dict[str, dict[str, float]] = {}
    for name in names or CHOICES:
        flush()
        if name in WORKFLOWS:
            single, ids = enqueue_workflows(name, n)
            many = single
        else:
            from tests import tasks

            task = getattr(tasks, name)
            single = enqueue_loop(task, TASKS[name], n)
            flush()
            many, ids = enqueue_bulk(task, TASKS[name], n)
        out[name] = {"enqueue": single, "enqueue_many": many,
                     "run": run_burst(env, root, ids=ids)}  # fmt: skip
        flush()
    return out


def flush() -> None:
    from taskqueue.compat import task_backends

    task_backends["default"].broker.client.flushdb()


def enqueue_loop(task: Any, call: Any, n: int) -> float:
    calls = [call(i) for i in range(n)]
    started = time.perf_counter()
    for args, kwargs in calls:
        task.enqueue(*args, **kwargs)
    return (time.perf_counter() - started) / n * 1e6


def enqueue_bulk(task: Any, call: Any, n: int) -> tuple[float, list[str]]:
    from taskqueue.backends import enqueue_many

    calls = [call(i + n) for i in range(n)]
    started = time.perf_counter()
    results = enqueue_many(task, calls)
    elapsed = (time.perf_counter() - started) / n * 1e6
    return elapsed, [r.id for r in results]


def enqueue_workflows(kind: str, n: int) -> tuple[float, list[str]]:
    """n no-op tasks as n / WIDTH chains (or groups) of WIDTH: µs per task, ids."""
    from taskqueue import workflows
    from tests.tasks import noop

    shape = workflows.chain if kind == "chain step" else workflows.group
    flows = [shape(*[noop] * WIDTH) for _ in range(max(1, n // WIDTH))]
    started = time.perf_counter()
    sent = [flow.enqueue() for flow in flows]
    elapsed = (time.perf_counter() - started) / (len(flows) * WIDTH) * 1e6
    return elapsed, [task_id for w in sent for task_id in w.step_ids]


def run_burst(env: dict[str, str], root: Path, *, ids: list[str]) -> float:
    """A burst solo worker on the queued tasks: µs per task, first start to last
    finish over every id's record (a workflow's steps finish out of id order)."""
    from taskqueue.compat import task_backends

    subprocess.run(
        [sys.executable, "manage.py", "runworker", "--pool", "solo", "--burst",
         "--loglevel", "WARNING"],
        cwd=root, env=env, check=True, timeout=600,
    )  # fmt: skip
    broker = task_backends["default"].broker
    times = records.times(broker, ids)
    if not all(a and b for a, b in times):
        missing = sum(1 for a, b in times if not (a and b))
        raise RuntimeError(f"{missing} of {len(ids)} tasks have no start or finish")
    start = min(a for a, _ in times if a)
    end = max(b for _, b in times if b)
    return (end - start) / (len(ids) - 1) * 1e6


if __name__ == "__main__":
    sys.exit(main())
