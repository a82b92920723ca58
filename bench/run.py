"""The benchmark, one command: `make bench` (full) or `make bench-quick`.

Starts a private redis-server and SQLite database in a temp dir, builds the
peers' venv, runs every workload for every contender interleaved and
repeated, then writes bench/results/latest.json, docs/benchmark.png and
docs/benchmarks.md. See docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    contenders,
    database,
    report,
    schedules_idle,
    task_options,
    venv,
    workloads,
)
from bench.redis_server import RedisServer

SIZES = {
    "quick": {"repeats": 1, "enqueue": 1500, "noop": 3000, "orm": 400,
              "latency": 10, "idle": 1.0, "rss": 2000, "rss_growth": None,
              "timeout": 60.0, "options": 2000, "schedules_idle": (2.0, 1.0)},
    "full": {"repeats": 3, "enqueue": 10_000, "noop": 20_000, "orm": 5000,
             "latency": 200, "idle": 20.0, "rss": 10_000,
             "rss_growth": (200_000, 10_000), "timeout": 240.0, "options": 5000,
             "schedules_idle": (10.0, 3.0)},
}  # fmt: skip
# "options": N per kind of bench/task_options.py, each repeat;
# "schedules_idle": (window s, settle s) per case of bench/schedules_idle.py.


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small N, 1 repeat, no smoke test (< 2 min)",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="taskqueue and raw loops only"
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--legacy-only",
        action="store_true",
        help="taskqueue solo's native ORM and legacy-producer runs only, alternating "
        "(N = the mode's ORM size, or --n); prints them, writes no docs",
    )
    parser.add_argument("--n", type=int, default=None, help="with --legacy-only: N")
    return parser.parse_args()


def main() -> int:
    args = parse()
    mode = "quick" if args.quick else "full"
    size = dict(SIZES[mode])
    if args.repeats:
        size["repeats"] = args.repeats
    if args.legacy_only:
        return legacy_only(size, n=args.n or size["orm"])
    pythons, left_out = ({}, {}) if args.no_peers else peer_venvs()
    with tempfile.TemporaryDirectory(prefix="taskqueue-bench-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            results = run_all(
                server, Path(tmp), size, pythons=pythons, quick=args.quick
            )
        finally:
            server.stop()
    results.update(mode=mode, size=size, redis_version=results.pop("redis_version"))
    results["dropped"] = {**left_out, **results["dropped"]}
    if "bench" in pythons:
        results["peer_versions"] = venv.versions(pythons["bench"])
    if "bench6" in pythons:
        results["peer_versions_django6"] = venv.versions(
            pythons["bench6"], venv.PACKAGES6
        )
    report.write(results, pythons.get("bench"))
    return 0


def legacy_only(size: dict[str, Any], *, n: int) -> int:
    """Native ORM against legacy producers on taskqueue solo, nothing else.

    The two runs alternate which goes first from repeat to repeat, so drift
    in the machine's load falls on both alike.
    """
    size = {**size, "orm": n}
    with tempfile.TemporaryDirectory(prefix="taskqueue-bench-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            b = prepare(server, Path(tmp), timeout=size["timeout"])
            solo = contenders.Taskqueue(server.client())
            runs = [
                one_repeat(b, [solo], size, rep=rep, kinds=("orm", LEGACY))
                for rep in range(size["repeats"])
            ]
        finally:
            server.stop()
    results = {"contenders": [solo.name], "repeats": runs, "idle": {}}
    print(report.legacy(results) or "no legacy figure: a run failed")
    return 0


def peer_venvs() -> tuple[dict[str, Path], dict[str, str]]:
    """The peers' pythons by venv key, and the peers left out (label -> reason)."""
    pythons: dict[str, Path] = {}
    left_out: dict[str, str] = {}
    for key, ensure in (("bench", venv.ensure), ("bench6", venv.ensure_django6)):
        python, why = ensure()
        if python is not None:
            pythons[key] = python
            continue
        print(f"peers of .venv-{key} left out: {why}", flush=True)
        left_out.update(
            (spec["label"], why)
            for spec in contenders.PEERS.values()
            if spec.get("venv", "bench") == key
        )
    return pythons, left_out


def prepare(
    server: RedisServer,
    tmp: Path,
    *,
    timeout: float = 240.0,
    pythons: dict[str, Path] | None = None,
    dropped: dict[str, str] | None = None,
) -> workloads.Bench:
    """Migrate and seed the database, set Django up: the Bench every run uses.

    Contenders whose migration failed go into ``dropped``.
    """
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "REDIS_URL": server.url,
        "RQ_REDIS_URL": server.url,
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "TASKQUEUE_VAR_DIR": str(tmp / "var"),
        "TASKQUEUE_WORKER_TIMEOUT": "30",  # the product default (tests.settings sets 2)
        "DJANGO_DEBUG": "false",  # as in production (and as bench.django_settings)
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "PYTHONPATH": str(contenders.ROOT),
    }
    print(
        f"redis-server {server.version()} on {server.url}; database in {tmp}",
        flush=True,
    )
    database.migrate(env)
    if dropped is not None:
        dropped.update(migrate_django6(env, pythons or {}))
    database.setup_django(env)
    database.seed()
    logdir = contenders.ROOT / "bench" / "results" / "logs"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    return workloads.Bench(
        server=server, env=env, logdir=logdir, timeout=timeout,
        reset_db=database.reset, processed_sum=database.processed_sum,
    )  # fmt: skip


def run_all(
    server: RedisServer,
    tmp: Path,
    size: dict[str, Any],
    *,
    pythons: dict[str, Path],
    quick: bool,
) -> dict[str, Any]:
    dropped: dict[str, str] = {}
    b = prepare(server, tmp, timeout=size["timeout"], pythons=pythons, dropped=dropped)
    field = contenders.build(server.client(), pythons, quick=quick)
    field = [c for c in field if c.name not in dropped]
    if not quick:  # --quick saves the ~2 s per contender; a broken one shows n/a
        field, failed = smoke(b, field)
        dropped.update(failed)
    runs: list[dict[str, Any]] = []
    for rep in range(size["repeats"]):
        order = field[rep % len(field) :] + field[: rep % len(field)]
        runs.append(one_repeat(b, order, size, rep=rep))
        runs[-1]["options"] = option_costs(b, size, rep=rep)
    idle = {
        c.name: guarded(c.name, "idle", lambda c=c: idle_one(b, c, size))
        for c in field
        if "idle" in c.workloads
    }
    solo = next(
        (c for c in field if isinstance(c, contenders.Taskqueue) and not c.pool), None
    )
    growth = (
        guarded("taskqueue", "rss growth", lambda: rss_growth(b, solo, size))
        if solo is not None and size["rss_growth"]
        else {}
    )
    seconds, settle = size["schedules_idle"]
    print("idle worker with schedules (taskqueue solo):", flush=True)
    scheduled = guarded(
        "taskqueue", "schedules idle",
        lambda: schedules_idle.measure_all(server, seconds=seconds, settle=settle),
    )  # fmt: skip
    return {
        "contenders": [c.name for c in field],
        "dropped": dropped,
        "repeats": runs,
        "idle": idle,
        "rss_growth": growth,
        "schedules_idle": scheduled,
        "redis_version": server.version(),
    }


def migrate_django6(env: dict[str, str], pythons: dict[str, Path]) -> dict[str, str]:
    """Migrate django-tasks-db's table; if that fails, its row is left out."""
    if "bench6" not in pythons:
        return {}
    why = database.migrate_django6(env, pythons["bench6"])
    if why:
        print(f"  left out: {why}", flush=True)
        return {contenders.PEERS["tasks-db"]["label"]: why}
    return {}


def smoke(
    b: workloads.Bench, field: list[contenders.Contender]
) -> tuple[list[Any], dict[str, str]]:
    """Drop (with a reason) any contender whose worker cannot run the sentinel."""
    kept, dropped = [], {}
    for c in field:
        print(f"smoke test: {c.name} ...", flush=True)
        try:
            run = workloads.timed_run(b, c, "none", n=0)
            if not run["ok"]:
                raise RuntimeError(f"sentinel task did not run in {b.timeout:.0f} s")
            kept.append(c)
        except Exception as exc:
            dropped[c.name] = str(exc).splitlines()[0][:200] if str(exc) else repr(exc)
            print(f"  {c.name} left out: {dropped[c.name]}", flush=True)
    return kept, dropped


# The throughput workloads; legacy has the ORM run's N (its ratio is to it).
LEGACY = contenders.LEGACY_WORKLOAD
WORKLOADS = ("noop", "orm", LEGACY)


def schedule(
    order: list[contenders.Contender], kinds: tuple[str, ...], rep: int
) -> list[tuple[str, contenders.Contender]]:
    """The throughput runs of a repeat, in order: (workload, contender).

    A contender's legacy run goes right beside its ORM run (after it in even
    repeats, before it in odd ones), so both see the machine alike; legacy
    runs only where the ORM run does.
    """
    runs: list[tuple[str, contenders.Contender]] = []
    for workload in (w for w in kinds if w not in ("enqueue", LEGACY)):
        for c in (c for c in order if workload in c.workloads):
            pair = [(workload, c)]
            if workload == "orm" and LEGACY in kinds and LEGACY in c.workloads:
                pair = [(LEGACY, c), *pair] if rep % 2 else [*pair, (LEGACY, c)]
            runs += pair
    return runs


def one_repeat(
    b: workloads.Bench,
    order: list[contenders.Contender],
    size: dict[str, Any],
    *,
    rep: int,
    kinds: tuple[str, ...] = ("enqueue", *WORKLOADS),
) -> dict[str, Any]:
    """One repeat of the given workloads (enqueue first), every contender in order."""
    out: dict[str, Any] = {"enqueue": {}, **{w: {} for w in WORKLOADS}}
    enqueuing = "enqueue" in kinds
    for c in (c for c in order if enqueuing and "enqueue" in c.workloads):
        n = c.n_for("enqueue", size["enqueue"])
        print(f"[repeat {rep + 1}] enqueue {n}: {c.name}", flush=True)
        out["enqueue"][c.name] = guarded(
            c.name, "enqueue", lambda c=c, n=n: workloads.enqueue_run(b, c, n)
        )
    for workload, c in schedule(order, kinds, rep):
        n = c.n_for(workload, size["orm" if workload == LEGACY else workload])
        print(f"[repeat {rep + 1}] {workload} x{n}: {c.name}", flush=True)
        started = time.perf_counter()
        run = guarded(
            c.name,
            workload,
            lambda c=c, w=workload, n=n: workloads.timed_run(b, c, w, n=n),
        )
        out[workload][c.name] = run
        print(f"    {summary(run)} ({time.perf_counter() - started:.1f} s)", flush=True)
    return out


def option_costs(
    b: workloads.Bench, size: dict[str, Any], *, rep: int
) -> dict[str, Any]:
    """Each option kind of bench/task_options.py once, the plain no-op among them
    (in an order rotated per repeat): its enqueue and run µs per task."""
    kinds = list(task_options.CHOICES)
    shift = rep % len(kinds)
    env = {**b.env, "DJANGO_SETTINGS_MODULE": contenders.Taskqueue.settings,
           "TEST_REDIS_URL": b.server.url}  # fmt: skip
    n = size["options"]
    out: dict[str, Any] = {}
    for kind in kinds[shift:] + kinds[:shift]:
        print(f"[repeat {rep + 1}] option cost x{n}: {kind}", flush=True)
        out[kind] = guarded(
            "taskqueue", kind,
            lambda k=kind: task_options.one_repeat(
                env, contenders.ROOT, n=n, names=[k]
            )[k],
        )  # fmt: skip
        print(f"    {out[kind]}", flush=True)
    return out


def rss_growth(
    b: workloads.Bench, c: contenders.Taskqueue, size: dict[str, Any]
) -> dict[str, Any]:
    n, first = size["rss_growth"]
    print(f"RSS growth: {c.name}, {first:,} -> {n:,} tasks", flush=True)
    return workloads.rss_growth(b, c, n=n, first=first)


def idle_one(
    b: workloads.Bench, c: contenders.Contender, size: dict[str, Any]
) -> dict[str, Any]:
    print(f"idle / latency / RSS: {c.name}", flush=True)
    return workloads.idle_run(
        b, c, idle_s=size["idle"], k=size["latency"], n_rss=c.n_for("rss", size["rss"])
    )


def guarded(name: str, what: str, fn: Any) -> dict[str, Any]:
    """Run one measurement; a failure is recorded and printed, never raised."""
    try:
        result: dict[str, Any] = fn()
    except Exception as exc:
        print(f"    {name} {what} failed: {exc}", flush=True)
        return {"ok": False, "error": str(exc)[:300]}
    return result


def summary(run: dict[str, Any]) -> str:
    rate = report.rate(run)
    if rate is None:
        return f"failed: {run.get('error', 'timed out')}"
    extra = f", lost {run['lost']} dup {run['dup']}" if "lost" in run else ""
    return f"{rate:,.0f} tasks/s{extra}"


if __name__ == "__main__":
    sys.exit(main())
