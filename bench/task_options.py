"""What each per-task control option costs per task, set and unset.

    .venv/bin/python -m bench.task_options [--n 5000] [--repeats 3] [--root DIR]

A private redis-server and SQLite file in a temp dir. For each task of
``tests.tasks`` (``noop``: no option; ``noop_unique``, ``noop_rated``,
``noop_capped``: one option each, never limiting, so the figure is the
option's own cost) it measures, per task, in microseconds:

- enqueue: ``task.enqueue()`` in a loop, and ``enqueue_many`` of n;
- run: a burst ``runworker --pool solo`` on n queued tasks, from the first
  task's start to the last one's finish (the records' times), so process
  start-up is left out.

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

from bench.record_times import record_times

TASKS = {
    "noop": lambda i: ((), {}),
    "noop_unique": lambda i: ((i,), {}),
    "noop_rated": lambda i: ((), {}),
    "noop_capped": lambda i: ((), {}),
}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(__file__).parent.parent)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
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
        print(
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
    from tests import tasks

    present = {n: getattr(tasks, n) for n in args.tasks if hasattr(tasks, n)}
    samples: dict[str, dict[str, list[float]]] = {
        n: {"enqueue": [], "enqueue_many": [], "run": []} for n in present
    }
    for _ in range(args.repeats):
        for name, task in present.items():  # interleaved, so drift hits all alike
            one = samples[name]
            one["enqueue"].append(enqueue_loop(task, TASKS[name], args.n))
            flush()
            many, first, last = enqueue_bulk(task, TASKS[name], args.n)
            one["enqueue_many"].append(many)
            one["run"].append(run_burst(env, root, first=first, last=last, n=args.n))
            flush()
    return {
        name: {k: statistics.median(v) for k, v in one.items()}
        for name, one in samples.items()
    }


def flush() -> None:
    from taskqueue.compat import task_backends

    task_backends["default"].broker.client.flushdb()


def enqueue_loop(task: Any, call: Any, n: int) -> float:
    calls = [call(i) for i in range(n)]
    started = time.perf_counter()
    for args, kwargs in calls:
        task.enqueue(*args, **kwargs)
    return (time.perf_counter() - started) / n * 1e6


def enqueue_bulk(task: Any, call: Any, n: int) -> tuple[float, str, str]:
    from taskqueue.backends import enqueue_many

    calls = [call(i + n) for i in range(n)]
    started = time.perf_counter()
    results = enqueue_many(task, calls)
    elapsed = (time.perf_counter() - started) / n * 1e6
    return elapsed, results[0].id, results[-1].id


def run_burst(
    env: dict[str, str], root: Path, *, first: str, last: str, n: int
) -> float:
    from taskqueue.compat import task_backends

    subprocess.run(
        [sys.executable, "manage.py", "runworker", "--pool", "solo", "--burst",
         "--loglevel", "WARNING"],
        cwd=root, env=env, check=True, timeout=600,
    )  # fmt: skip
    broker = task_backends["default"].broker
    k = broker.keys("default")
    (start, _), (_, end) = record_times(broker.client, k, [first, last])
    if start is None or end is None:
        raise RuntimeError(f"no times in the records of {first} and {last}")
    return (end - start) / (n - 1) * 1e6


if __name__ == "__main__":
    sys.exit(main())
