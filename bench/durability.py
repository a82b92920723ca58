"""What DURABILITY "replicated" costs: enqueue and no-op throughput in each mode.

    .venv/bin/python -m bench.durability [--n 5000] [--repeats 3]

Starts a primary with one replica on loopback (diskless sync, no persistence)
per mode, then, in a child process with that mode's settings: N single
``enqueue()`` calls (enqueues/s), and a ``runworker --burst --pool solo`` over
N no-op tasks (tasks/s, the worker's start-up, measured on an empty queue,
taken off). Prints one line per mode and figure (median of the repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench import records
from bench.redis_server import free_port, redis_executable

ROOT = Path(__file__).resolve().parent.parent
MODES = ("primary", "replicated")


def start_redis(workdir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--loglevel", "warning",
         "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def in_sync(primary: int) -> None:
    client = redis.Redis(port=primary)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        client.incr("bench:probe")
        if int(client.execute_command("WAIT", 1, 200)) >= 1:
            return
    raise RuntimeError("the replica did not sync")


def child(n: int) -> None:
    """In a process with the mode's settings: time enqueues and a burst worker."""
    import django

    django.setup()
    from taskqueue.backends import enqueue_many
    from tests.tasks import noop

    noop.enqueue()  # connect and load the scripts first
    started = time.perf_counter()
    for _ in range(n):
        noop.enqueue()
    enqueue_rate = n / (time.perf_counter() - started)
    worker = [sys.executable, "manage.py", "runworker", "--pool", "solo", "--burst",
              "--loglevel", "WARNING", "--queue", "default"]  # fmt: skip
    subprocess.run(worker, cwd=ROOT, check=True)  # drains the enqueues above
    ids = [result.id for result in enqueue_many(noop, [((), {})] * n)]
    subprocess.run(worker, cwd=ROOT, check=True)
    print(json.dumps({"enqueue": enqueue_rate, "noop": n / window(ids)}))


def window(ids: list[str]) -> float:
    """Seconds from the first task's start to the last one's finish (the
    result records' stamps): the worker's start-up is not in it."""
    from taskqueue.backends import backend_for

    broker = backend_for("default").broker
    stamps = records.times(broker, ids)
    return max(b for _, b in stamps if b) - min(a for a, _ in stamps if a)


def one_run(mode: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tq-bench-dur-") as tmp:
        work = Path(tmp)
        (work / "p").mkdir()
        (work / "r").mkdir()
        primary, port = start_redis(work / "p")
        replica, _ = start_redis(work / "r", "--replicaof", "127.0.0.1", str(port))
        try:
            in_sync(port)
            env = {
                **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                "TEST_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "TQ_TEST_DURABILITY": mode, "TQ_TEST_REPLICATION_TIMEOUT": "1",
                "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
            }  # fmt: skip
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                check=True,
            )  # fmt: skip
            out = subprocess.run(
                [sys.executable, "-m", "bench.durability", "--child", "--n", str(n)],
                cwd=ROOT, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            return dict(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            for proc in (replica, primary):
                proc.kill()
                proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return 0
    for mode in MODES:
        runs = [one_run(mode, args.n) for _ in range(args.repeats)]
        for figure, unit in (("enqueue", "enqueues/s"), ("noop", "tasks/s")):
            values = sorted(run[figure] for run in runs)
            print(
                f"{mode:<10} {figure:<7} {statistics.median(values):8.0f} {unit} "
                f"(runs: {', '.join(f'{v:.0f}' for v in values)})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
