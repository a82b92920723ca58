"""What one idle worker costs Redis per second with 0, 1 and 100 schedules.

    .venv/bin/python -m bench.schedules_idle [--seconds 10]

A private redis-server, one ``runworker --pool solo`` on an empty queue,
and ``INFO commandstats`` deltas over the idle window (as the idle
measurement of bench/workloads.py does; commands run inside scripts count, as
there). "Idle" schedules are daily crons,
due in hours: the scheduler thread sleeps and sends nothing. For scale, one
``every: 1`` schedule shows what a due tick costs: the fire script, and the
run of its (no-op) task by the worker (claim, settle, results). Prints one
line per case (commands/s, and the worker's CPU %); nothing is written to
docs/ by this script: ``bench/run.py`` calls ``measure_all`` for the idle
rows of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.redis_server import RedisServer
from bench.workloads import cpu_seconds, stop

ROOT = Path(__file__).resolve().parent.parent
TASK = "tests.tasks.noop"


def cases(*, ticking: bool = True) -> dict[str, dict[str, dict[str, object]]]:
    """The schedule sets by label; ``ticking`` adds the due-each-second one."""
    daily = {"task": TASK, "cron": "0 3 * * *"}
    out: dict[str, dict[str, dict[str, object]]] = {
        "0 schedules": {},
        "1 schedule (daily cron)": {"s0": daily},
        "100 schedules (daily crons)": {f"s{i}": daily for i in range(100)},
    }
    if ticking:
        out["1 schedule every 1 s (due each second)"] = {
            "s0": {"task": TASK, "every": 1}
        }
    return out


def measure_all(
    server: RedisServer, *, seconds: float, settle: float = 3.0, ticking: bool = True
) -> dict[str, dict[str, float]]:
    """Every case of ``cases()``, one after the other: label -> figures."""
    out = {}
    for name, schedules in cases(ticking=ticking).items():
        out[name] = measure(server, schedules, seconds, settle=settle)
        print(
            f"  {name}: {out[name]['cmds_per_s']:.2f} Redis commands/s, "
            f"worker CPU {out[name]['cpu_pct']:.2f} %",
            flush=True,
        )
    return out


def measure(
    server: RedisServer,
    schedules: dict[str, object],
    seconds: float,
    *,
    settle: float = 3.0,
) -> dict[str, float]:
    """One idle worker with these schedules: Redis commands/s, its CPU %."""
    server.client().flushdb()  # the private server: nothing else lives there
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": server.url,
        "TEST_REDIS_URL": server.url, "TQ_TEST_SCHEDULES": json.dumps(schedules),
        "TASKQUEUE_WORKER_TIMEOUT": "30",  # the default: the claim's own idle pace
    }  # fmt: skip
    argv = [
        sys.executable,
        "manage.py",
        "runworker",
        "--pool",
        "solo",
        "--loglevel",
        "WARNING",
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (
            not server.client().hlen("taskqueue:workers")
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        time.sleep(settle)  # start-up chatter (first claims, first fires) settles
        before, cpu0, t0 = server.total_commands(), cpu_seconds(proc), time.monotonic()
        time.sleep(seconds)
        after, cpu1, t1 = server.total_commands(), cpu_seconds(proc), time.monotonic()
        return {
            "cmds_per_s": (after - before - 1) / (t1 - t0),
            "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
        }
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            measure_all(server, seconds=args.seconds)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
