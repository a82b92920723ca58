"""The workloads: spawn a contender's worker, feed it, time it, stop it.

Throughput method (the same for every contender): fill the queue with a
start marker, N tasks and a sentinel, start the worker, wait until the
sentinel has run; rate = N / (sentinel's run - start marker's run), both
times stamped inside the worker, so start-up and polling are not counted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.contenders import ROOT, Contender, Taskqueue
from bench.redis_server import RedisServer


@dataclass
class Bench:
    """What every run needs: the Redis server, the DB reset, env and log dir."""

    server: RedisServer
    env: dict[str, str]
    logdir: Path
    timeout: float
    reset_db: Any  # callable: zero processed_count, drop exactly-once records
    processed_sum: Any  # callable: sum(processed_count)
    logs: list[Path] = field(default_factory=list)

    def reset(self) -> None:
        self.server.client().flushdb()
        self.reset_db()

    def spawn(self, c: Contender, burst: bool) -> subprocess.Popen[bytes]:
        env = {**self.env, **c.worker_env()}
        log = self.logdir / f"{c.name.replace(' ', '_')}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                c.argv(burst), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def wait_done(self, c: Contender, proc: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if c.done():
                return True
            if proc.poll() is not None:
                return c.done()
            time.sleep(0.002)
        return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's process group (it is a session of its own), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.wait(timeout=10)


def tree(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_mb(proc: subprocess.Popen[bytes]) -> float:
    total = 0
    for p in tree(proc):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    total = 0.0
    for p in tree(proc):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def timed_run(b: Bench, c: Contender, workload: str, *, n: int) -> dict[str, Any]:
    """One throughput run; returns elapsed seconds (spawn -> sentinel) and checks."""
    b.reset()
    c.fill(workload, n)
    redis_cpu = b.server.cpu_seconds()
    start = time.perf_counter()
    proc = b.spawn(c, burst=True)
    ok = b.wait_done(c, proc)
    elapsed = time.perf_counter() - start
    redis_cpu = b.server.cpu_seconds() - redis_cpu
    stop(proc)
    window = c.window() if ok else None
    out: dict[str, Any] = {
        "ok": ok and bool(window),
        "elapsed": window,
        "n": n,
        "wall": elapsed,
        # Redis's CPU per task while the worker ran (its start-up and the
        # bench's done() polls are a few hundred commands: noise).
        "redis_cpu_us": redis_cpu / n * 1e6 if n else None,
    }
    if ok and workload in ("orm", "legacy"):
        out.update(orm_check(b, n))
    return out


def orm_check(b: Bench, n: int) -> dict[str, int]:
    """Lost / duplicated = shortfall / excess of sum(processed_count) against N."""
    total = int(b.processed_sum())
    return {"lost": max(0, n - total), "dup": max(0, total - n)}


def enqueue_run(b: Bench, c: Contender, n: int) -> dict[str, float]:
    b.reset()
    return c.enqueue(n)


def rss_growth(b: Bench, c: Taskqueue, *, n: int, first: int) -> dict[str, Any]:
    """(f) the worker's RSS after its first `first` tasks and after all n no-op tasks."""
    b.reset()
    c.fill("noop", n)
    proc = b.spawn(c, burst=False)
    try:
        at_first = None
        deadline = time.monotonic() + b.timeout
        while not c.done() and time.monotonic() < deadline:
            if at_first is None and n - c.pending() >= first:
                at_first = rss_mb(proc)
            time.sleep(0.02)
        if at_first is None or not c.done():
            return {"ok": False}
        return {"ok": True, "first": first, "n": n, "rss_first_mb": at_first,
                "rss_last_mb": rss_mb(proc)}  # fmt: skip
    finally:
        stop(proc)


def idle_run(
    b: Bench, c: Contender, *, idle_s: float, k: int, n_rss: int
) -> dict[str, Any]:
    """(d) latency p50/p99, (e) idle commands/s and CPU, (f) RSS after n_rss tasks."""
    b.reset()
    proc = b.spawn(c, burst=False)
    try:
        c.fill("none", 0)
        if not b.wait_done(c, proc):
            return {"ok": False}
        time.sleep(min(1.0, idle_s / 3))  # let start-up chatter settle
        r = b.server
        cmds0, cpu0, t0 = r.total_commands(), cpu_seconds(proc), time.monotonic()
        time.sleep(idle_s)
        cmds1, cpu1, t1 = r.total_commands(), cpu_seconds(proc), time.monotonic()
        lat = sorted(c.latency(k))
        b.server.client().delete("bench:done")
        c.fill("noop", n_rss)
        done = b.wait_done(c, proc)
        return {
            "ok": True,
            "idle_cmds_per_s": (cmds1 - cmds0 - 1) / (t1 - t0),
            "idle_cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
            "lat_p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "lat_p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            if lat
            else None,
            "lat_samples": len(lat),
            "rss_mb": rss_mb(proc) if done else None,
            "rss_tasks": n_rss,
        }
    finally:
        stop(proc)
