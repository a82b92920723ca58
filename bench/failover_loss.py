"""What a Sentinel failover loses with DURABILITY "primary" (and "replicated").

    .venv/bin/python -m bench.failover_loss [--runs 10] [--mode primary]

Each run is tests/failover.py's scenario (tests/process/test_failover.py runs
it once, in "replicated", and asserts nothing is lost): a primary, two
replicas, three sentinels on loopback, two workers, 5,000 enqueues, SIGKILL of
the primary after 1,500. Prints per run the acknowledged tasks that never ran
(lost) and those that ran twice, then the totals. Not part of CI (a minute
or more per ten runs).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(url: str, mode: str, workdir: Path) -> None:
    """One run, in a process whose settings point at this run's sentinels."""
    import django

    django.setup()
    from taskqueue.backends import backend_for
    from tests import tasks
    from tests.failover import SentinelView, queue_drained, run_failover

    sentinels = SentinelView.attach(workdir)
    record = workdir / "runs"
    env = {**os.environ, "TASKQUEUE_WORKER_TIMEOUT": "10", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "manage.py", "runworker", "--pool", "solo",
            "--queue", "default", "--loglevel", "WARNING"]  # fmt: skip
    workers = [
        subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        outcome = run_failover(
            sentinels,
            enqueue=lambda: tasks.record_run.enqueue(str(record)).id,
            drained=queue_drained(backend_for("default").broker),
            record=record, timeout=120,
        )  # fmt: skip
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)
    print(json.dumps({
        "mode": mode, "acknowledged": len(outcome.acknowledged),
        "lost": len(outcome.lost), "twice": len(outcome.twice),
        "unsure": len(outcome.unsure), "failed": outcome.failed,
        "failover_s": round(outcome.failover_seconds, 1),
    }))  # fmt: skip
    del url


def one_run(mode: str) -> dict[str, object]:
    from tests.failover import SentinelSet

    with tempfile.TemporaryDirectory(prefix="tq-failover-") as tmp:
        workdir = Path(tmp)
        sentinels = SentinelSet(workdir)
        sentinels.save(workdir)
        try:
            env = {
                **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                "TEST_REDIS_URL": sentinels.url, "REDIS_URL": sentinels.url,
                "TASKQUEUE_KEY_PREFIX": f"f{secrets.token_hex(3)}:",
                "TQ_TEST_DURABILITY": mode, "TQ_TEST_REPLICATION_TIMEOUT": "0.5",
                "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            }  # fmt: skip
            out = subprocess.run(
                [sys.executable, "-m", "bench.failover_loss", "--child", str(workdir),
                 "--mode", mode, "--url", sentinels.url],
                cwd=ROOT, env=env, check=False, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            if out.returncode != 0:  # a run that did not finish: say why, go on
                return {"mode": mode, "error": out.stderr.strip()[-600:],
                        "acknowledged": 0, "lost": 0, "twice": 0}  # fmt: skip
            return dict(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            sentinels.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mode", choices=("primary", "replicated"), default="primary")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.url, args.mode, args.child)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    totals = {"acknowledged": 0, "lost": 0, "twice": 0}
    for n in range(args.runs):
        run = one_run(args.mode)
        print(f"run {n + 1}: {json.dumps(run)}", flush=True)
        for key in totals:
            totals[key] += int(run[key])  # type: ignore[call-overload]
    print(f"{args.mode}: {args.runs} runs, {json.dumps(totals)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
