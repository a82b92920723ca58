"""Two figures `bench/run.py` does not take: throughput with 1, 2 and 4 worker
processes, and worker RSS growth from 10k to 200k tasks.

    .venv/bin/python bench/worker_scaling.py            # both
    .venv/bin/python bench/worker_scaling.py --rss-only

Uses the project's Redis (REDIS_URL, else the embedded server) under a fresh
random key prefix, removed at the end; no-op tasks (tests.tasks.noop).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PREFIX = f"bench{secrets.token_hex(3)}:"
os.environ.update(DJANGO_SETTINGS_MODULE="tests.settings", TASKQUEUE_KEY_PREFIX=PREFIX)
os.environ["TASKQUEUE_WORKER_TIMEOUT"] = "30"  # tests.settings would default it to 2
os.environ["DJANGO_DEBUG"] = "false"  # as in production
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402

from taskqueue.backends import enqueue_many  # noqa: E402
from taskqueue.compat import task_backends  # noqa: E402
from tests import tasks  # noqa: E402

BACKEND = task_backends["default"]


def fill(count: int) -> None:
    for start in range(0, count, 20_000):
        enqueue_many(tasks.noop, [((), {})] * min(20_000, count - start))


def worker(*args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(ROOT / "manage.py"), "runworker", "--burst",
               "--loglevel", "WARNING", "--queue", "default", *args]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ))


def timed_run(processes: int, count: int) -> float:
    fill(count)
    started = time.perf_counter()
    worker("--pool", "prefork", "--concurrency", str(processes)).wait(timeout=600)
    return time.perf_counter() - started


def scaling(count: int) -> None:
    for processes in (1, 2, 4):
        startup = min(timed_run(processes, 0) for _ in range(2))
        best = min(timed_run(processes, count) for _ in range(2))
        print(f"{processes} process(es): {count / (best - startup):,.0f} tasks/s "
              f"(start-up {startup:.2f}s subtracted)", flush=True)  # fmt: skip


def rss_growth(count: int = 200_000) -> None:
    fill(count)
    proc = worker("--pool", "solo")
    process = psutil.Process(proc.pid)
    at_10k, last = None, (0, 0.0)
    while proc.poll() is None:
        done = count - BACKEND.broker.stats("default").pending
        try:
            rss = process.memory_info().rss / 1e6
        except psutil.NoSuchProcess:
            break
        if at_10k is None and done >= 10_000:
            at_10k = rss
        last = (done, rss)
        time.sleep(0.2)
    print(f"RSS after 10k tasks: {at_10k:.1f} MB; after {last[0]:,}: {last[1]:.1f} MB; "
          f"growth {last[1] - (at_10k or 0):.1f} MB")  # fmt: skip


def cleanup() -> None:
    client = BACKEND.broker.client
    for pattern in (f"{PREFIX}*", f"{{{PREFIX}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rss-only", action="store_true")
    parser.add_argument(
        "--tasks", type=int, default=40_000, help="tasks per scaling run"
    )
    options = parser.parse_args()
    try:
        if not options.rss_only:
            scaling(options.tasks)
        rss_growth()
    finally:
        cleanup()


if __name__ == "__main__":
    main()
