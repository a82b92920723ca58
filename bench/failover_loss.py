"""What a Sentinel failover or a Cluster promotion loses with DURABILITY "primary" (and "replicated").

    .venv/bin/python -m bench.failover_loss [--runs 10] [--mode primary] [--cluster]

Each run is tests/failover.py's scenario (tests/process/test_failover.py runs
it once, in "replicated", and asserts nothing is lost): a primary, two
replicas, three sentinels on loopback, two workers, 5,000 enqueues, SIGKILL of
the primary after 1,500. With ``--cluster`` the servers are three masters with
one replica each (tests/cluster_failover.py) and the master of the default
queue's slot is killed; once its replica is promoted the killed node is
started again and rejoins as a replica (tests/process/test_cluster_failover.py
runs 1,500 tasks of it in "replicated"). Prints per run the acknowledged tasks that never ran
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def child(url: str, mode: str, workdir: Path, *, cluster: bool) -> None:
    """One run, in a process whose settings point at this run's sentinels."""
    import django

    django.setup()
    from taskqueue.backends import backend_for
    from tests import tasks
    from tests.cluster_failover import ClusterView
    from tests.conftest import wait_until
    from tests.failover import SentinelView, queue_drained, run_failover

    sentinels = (ClusterView if cluster else SentinelView).attach(workdir)
    record = workdir / "runs"
    env = {**os.environ, "TASKQUEUE_WORKER_TIMEOUT": "10", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "manage.py", "runworker", "--pool", "solo",
            "--queue", "default", "--loglevel", "WARNING"]  # fmt: skip
    logs = [(workdir / f"worker-{n}.log").open("wb") for n in range(2)]
    workers = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    broker = backend_for("default").broker
    try:
        # Both registered before the kill, as in the tests (with Sentinel, a
        # worker that starts while no primary is known exits at once).
        wait_until(lambda: len(broker.workers()) == len(workers), timeout=60)
        outcome = run_failover(
            sentinels,
            enqueue=lambda: tasks.record_run.enqueue(str(record)).id,
            drained=queue_drained(broker),
            record=record, timeout=120,
        )  # fmt: skip
    except AssertionError:  # say what was left, and the workers' last words
        left = f"left: {broker.stats('default')} workers: {broker.workers()}"
        print(left, file=sys.stderr)
        for log in logs:
            tail = Path(log.name).read_text(errors="replace").splitlines()[-8:]
            print(f"{log.name}:", *tail, sep="\n  ", file=sys.stderr)
        raise
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)
    print(json.dumps({
        "mode": mode, "acknowledged": len(outcome.acknowledged),
        "lost": len(outcome.lost), "twice": len(outcome.twice),
        "unsure": len(outcome.unsure), "failed": outcome.failed,
        "failover_s": round(outcome.failover_seconds, 1),
        **twice_detail(outcome),
    }))  # fmt: skip
    del url


def servers(workdir: Path, prefix: str, cluster: bool) -> Any:
    """A SentinelSet, or a ReplicatedCluster aimed at the default queue's master."""
    if not cluster:
        from tests.failover import SentinelSet

        return SentinelSet(workdir)
    from taskqueue.keys import queue_base
    from tests.cluster_failover import ReplicatedCluster

    nodes = ReplicatedCluster()
    nodes.aim(queue_base("default", prefix))
    nodes.restart_after_promotion(timeout=120)
    return nodes


def twice_detail(outcome: Any) -> dict[str, object]:
    """Where the tasks that ran twice sit in the enqueue order (the kill is at
    1,500), and whether both runs were on one worker: a block just before the
    kill is work the promoted replica never received."""
    order = {task_id: n for n, task_id in enumerate(outcome.acknowledged)}
    places = sorted(order[t] for t in outcome.twice if t in order)
    if not places:
        return {}
    same = sum(1 for t in outcome.twice if len(outcome.ran_by.get(t, ())) == 1)
    return {"twice_enqueued_from": places[0], "twice_enqueued_to": places[-1],
            "twice_on_one_worker": same}  # fmt: skip


def switches(workdir: Path) -> int:
    """How many times the first sentinel switched the master (+switch-master)."""
    log = workdir / "sentinel-0.log"
    return log.read_text().count("+switch-master") if log.exists() else -1


def one_run(mode: str, cluster: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="tq-failover-") as tmp:
        workdir = Path(tmp)
        prefix = f"f{secrets.token_hex(3)}:"
        sentinels = servers(workdir, prefix, cluster)
        sentinels.save(workdir)
        try:
            env = {
                **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                "TEST_REDIS_URL": sentinels.url, "REDIS_URL": sentinels.url,
                "TASKQUEUE_KEY_PREFIX": prefix,
                "TQ_TEST_DURABILITY": mode, "TQ_TEST_REPLICATION_TIMEOUT": "0.5",
                "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            }  # fmt: skip
            out = subprocess.run(
                [sys.executable, "-m", "bench.failover_loss", "--child", str(workdir),
                 "--mode", mode, "--url", sentinels.url,
                 *(["--cluster"] if cluster else [])],
                cwd=ROOT, env=env, check=False, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            if out.returncode != 0:  # a run that did not finish: say why, go on
                start = max(0, out.stderr.find("left: "))
                return {"mode": mode, "error": out.stderr[start:][:2500],
                        "acknowledged": 0, "lost": 0, "twice": 0}  # fmt: skip
            run = dict(json.loads(out.stdout.strip().splitlines()[-1]))
            if not cluster:  # more than one means a second failover: a split brain
                run["switches"] = switches(workdir)
            return run
        finally:
            sentinels.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mode", choices=("primary", "replicated"), default="primary")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="three masters with a replica each, not Sentinel",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.url, args.mode, args.child, cluster=args.cluster)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    totals = {"acknowledged": 0, "lost": 0, "twice": 0}
    for n in range(args.runs):
        run = one_run(args.mode, args.cluster)
        print(f"run {n + 1}: {json.dumps(run)}", flush=True)
        for key in totals:
            totals[key] += int(run[key])  # type: ignore[call-overload]
    where = "cluster" if args.cluster else "sentinel"
    print(f"{args.mode} ({where}): {args.runs} runs, {json.dumps(totals)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
