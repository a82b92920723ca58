"""A soak: many tasks, 1 % failing and 1 % poison, then what Redis and the workers kept.

    .venv/bin/python -m bench.soak [--tasks 1000000] [--workers 2] [--result-ttl 60] [--dead-letter-max 5000] [--cluster]

A private redis-server (no persistence) and ``--workers`` solo workers. The
producer queues ``record_run`` tasks with ``enqueue_many`` in batches, every
100th a task that raises (``fails_once_then_gives_up``, no retry) and every
100th-plus-one a poison message (raw bytes that are not JSON, pushed on the
queue's list: the worker dead-letters them). When the queue is drained it
reports throughput, lost tasks (queued, never recorded) and tasks recorded
twice, Redis ``used_memory`` and the workers' RSS before and after, the bytes
of one result record and of one dead letter (MEMORY USAGE), then waits out
``--result-ttl`` and measures the memory again: what is left is the dead
letters (capped by ``--dead-letter-max``, DEAD_LETTER_MAX) and the fixed keys. Issue 20, test 4.
With ``--cluster`` the same over a three-master Redis Cluster
(bench/soak_cluster.py): workers and producer use its ``redis+cluster://`` URL,
memory is summed over the masters, MEMORY USAGE is asked of a key's master.
Not part of CI.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def used_memory(client: Any) -> int:
    """``used_memory``; over a cluster, the sum over its masters."""
    if is_cluster(client):
        from bench.soak_cluster import masters_used_memory

        return sum(masters_used_memory(client))
    return int(client.info("memory")["used_memory"])


def memory_usage(client: Any, key: bytes | str) -> int:
    """MEMORY USAGE of a key (over a cluster, on the master that holds it)."""
    if is_cluster(client):
        from bench.soak_cluster import memory_usage_on_owner

        return memory_usage_on_owner(client, key)
    return int(client.memory_usage(key) or 0)


def is_cluster(client: Any) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def produce(
    total: int, record: Path, client: Any, *, queue_key: str
) -> tuple[int, int, int]:
    """Queue ``total`` messages; the counts of recorded, failing and poison ones."""
    from taskqueue.backends import enqueue_many
    from tests import tasks

    recorded = failing = poison = 0
    n = 0
    while n < total:
        size = min(BATCH, total - n)
        bad = [i for i in range(n, n + size) if i % 100 == 0]
        sick = [i for i in range(n, n + size) if i % 100 == 1]
        good = size - len(bad) - len(sick)
        enqueue_many(tasks.record_run, [((str(record),), {})] * good)
        if bad:
            enqueue_many(tasks.fails_once_then_gives_up, [(("soak",), {})] * len(bad))
        if sick:
            client.rpush(queue_key, *[b"poison %d" % i for i in sick])
        recorded, failing, poison = (
            recorded + good,
            failing + len(bad),
            poison + len(sick),
        )
        n += size
    return recorded, failing, poison


def kept(client: Any, dead: str) -> dict[str, int]:
    """What Redis holds once drained: dead letters and results, with their bytes."""
    dead_count = int(client.hlen(dead))
    dead_bytes = sum(
        memory_usage(client, key) for key in (dead, dead + ":index", dead + ":raw")
    )
    sample = list(client.scan_iter(match="*:result:*", count=1000))[:200]
    result_bytes = sum(memory_usage(client, k) for k in sample)
    results = sum(1 for _ in client.scan_iter(match="*:result:*", count=5000))
    return {
        "dead_letters": dead_count,
        "bytes_per_dead_letter": round(dead_bytes / max(1, dead_count)),
        "results_kept_at_drain": results,
        "bytes_per_result": round(result_bytes / max(1, len(sample))),
    }


def start_workers(count: int) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "manage.py", "runworker", "--pool", "solo",
            "--queue", "default", "--loglevel", "WARNING"]  # fmt: skip
    return [
        subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]  # fmt: skip


def child(
    workers: int, total: int, *, result_ttl: int, workdir: Path
) -> dict[str, Any]:
    import django

    django.setup()
    import redis

    from taskqueue.backends import backend_for
    from taskqueue.connection import make_client
    from tests.conftest import wait_until
    from tests.failover import queue_drained

    url = os.environ["REDIS_URL"]
    client = make_client(url) if "+cluster" in url else redis.Redis.from_url(url)
    broker = backend_for("default").broker
    record = workdir / "runs"
    procs = start_workers(workers)
    try:
        wait_until(lambda: len(broker.workers()) == workers, timeout=60)
        before = {"memory": used_memory(client), "rss": [rss_kib(p.pid) for p in procs]}
        started = time.monotonic()
        pending = broker.keys("default").pending
        recorded, failing, poison = produce(total, record, client, queue_key=pending)
        enqueued_s = time.monotonic() - started
        wait_until(queue_drained(broker), timeout=24 * 3600, interval=0.5)
        elapsed = time.monotonic() - started
        after = {"memory": used_memory(client), "rss": [rss_kib(p.pid) for p in procs]}
        runs = collections.Counter(line.split()[0] for line in record.open())
        held = kept(client, broker.keys("default").dead)
        masters = per_master(client)
        time.sleep(result_ttl + 10)  # the last result's TTL runs from the drain
        expired = used_memory(client)  # results past their TTL, reclaimed by Redis
        if masters:
            masters["used_memory_after_result_ttl"] = per_master(client)["used_memory"]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    return {
        "tasks": total, "recorded": recorded, "failing": failing, "poison": poison,
        "enqueue_s": round(enqueued_s, 1), "elapsed_s": round(elapsed, 1),
        "throughput_per_s": round(total / elapsed),
        "lost": recorded - len(runs), "twice": sum(1 for n in runs.values() if n > 1),
        **held,
        "redis_used_memory": {"before": before["memory"], "drained": after["memory"],
                              "after_result_ttl": expired},
        "worker_rss_kib": {"before": before["rss"], "after": after["rss"]},
        **({"masters_at_drain": masters} if masters else {}),
    }  # fmt: skip


def per_master(client: Any) -> dict[str, list[int]]:
    """Over a cluster, each master's used_memory and keys (else nothing)."""
    if not is_cluster(client):
        return {}
    from bench.soak_cluster import keys_per_master, masters_used_memory

    return {"used_memory": masters_used_memory(client), "keys": keys_per_master(client)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--result-ttl", type=int, default=60)
    parser.add_argument(
        "--dead-letter-max",
        type=int,
        default=5000,
        help="below the 1 %% poison of 1,000,000, so the cap is hit",
    )
    parser.add_argument(
        "--cluster", action="store_true", help="over a three-master Redis Cluster"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = child(
            args.workers, args.tasks, result_ttl=args.result_ttl, workdir=args.child
        )
        print(json.dumps(figures))
        return 0
    with tempfile.TemporaryDirectory(prefix="tq-soak-") as tmp:
        workdir = Path(tmp)
        server = start_redis(workdir, cluster=args.cluster)
        try:
            env = {
                **os.environ, "DJANGO_SETTINGS_MODULE": "bench.soak_settings",
                "TEST_REDIS_URL": server.url, "REDIS_URL": server.url,
                "TQ_SOAK_RESULT_TTL": str(args.result_ttl),
                "TQ_SOAK_DEAD_LETTER_MAX": str(args.dead_letter_max),
                "TASKQUEUE_WORKER_TIMEOUT": "10", "PYTHONUNBUFFERED": "1",
                "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            }  # fmt: skip
            out = subprocess.run(
                [sys.executable, "-m", "bench.soak", "--child", str(workdir),
                 "--tasks", str(args.tasks), "--workers", str(args.workers),
                 "--result-ttl", str(args.result_ttl)],
                cwd=ROOT, env=env, check=False, capture_output=True, text=True,
            )  # fmt: skip
        finally:
            if args.cluster:
                server.close()
            else:
                server.stop()
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return 1
    print(out.stdout.strip().splitlines()[-1])
    return 0


def start_redis(workdir: Path, *, cluster: bool) -> Any:
    """A private redis-server, or a three-master cluster; ``url`` names it."""
    if cluster:
        from bench.soak_cluster import SoakCluster

        return SoakCluster()
    from bench.redis_server import RedisServer

    server = RedisServer(workdir)
    server.start()
    return server


if __name__ == "__main__":
    raise SystemExit(main())
