"""The contenders: how to start each one's worker and how to feed it.

Every contender offers the same five operations, so the workloads treat
them alike: ``argv(burst)`` (the worker command), ``fill(workload, n)``
(queue n tasks, then the sentinel), ``done()`` (has the sentinel run?),
``enqueue(n)`` (producer rates) and ``latency(k)``.

taskqueue and the raw loops are fed from this process (the product's
venv); the peers through ``bench.procs.peer_driver`` run in .venv-bench (or
.venv-bench6 for the Django 6 Tasks backends).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from bench import records

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PY = ROOT / ".venv" / "bin" / "python"
START_KEY = "bench:start"
DONE_KEY = "bench:done"
LATENCY_KEY = "bench:lat"
RAW_QUEUE = "raw:queue"


ALL_WORKLOADS = ("enqueue", "noop", "orm", "idle")
# The original system's producers: a plain RPUSH of {"recipe_id": N} onto the
# default queue's list (taskqueue's solo worker only; the ratio is to its ORM run).
LEGACY_WORKLOAD = "legacy"


class Contender:
    name = ""
    workloads: tuple[str, ...] = ALL_WORKLOADS
    settings = "bench.django_settings"
    scale = 1.0  # fraction of N given to slow contenders, so a run stays short
    python: Path = PRODUCT_PY

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def n_for(self, workload: str, n: int) -> int:
        """How many tasks this contender gets: slow peers fewer, the Lua loop more."""
        return max(100, int(n * self.scale))

    def argv(self, burst: bool) -> list[str]:
        raise NotImplementedError

    def worker_env(self) -> dict[str, str]:
        """Environment the worker (and a peer's driver) gets on top of the bench's."""
        return {"DJANGO_SETTINGS_MODULE": self.settings}

    def fill(self, workload: str, n: int) -> None:
        raise NotImplementedError

    def done(self) -> bool:
        return bool(self.r.exists(DONE_KEY))

    def window(self) -> float | None:
        """Seconds from the start marker's run to the sentinel's, stamped by the worker."""
        start, end = self.r.mget([START_KEY, DONE_KEY])
        return float(end) - float(start) if start and end else None

    def enqueue(self, n: int) -> dict[str, float]:
        raise NotImplementedError

    def latency(self, k: int) -> list[float]:
        raise NotImplementedError


class Taskqueue(Contender):
    """`manage.py runworker` on the default queue with the tests app (tests.tasks.noop).

    ``pool`` None: the solo pool, one process (the headline figure). A pool
    name: that pool at concurrency 2, throughput only (its enqueue is the
    same code, its idle figures the solo worker's times two).
    """

    settings = "tests.settings"

    def __init__(self, r: redis.Redis, pool: str | None = None) -> None:
        super().__init__(r)
        self.pool = pool
        self.name = f"taskqueue {pool} -c2" if pool else "taskqueue"
        self.workloads = ("noop", "orm") if pool else (*ALL_WORKLOADS, LEGACY_WORKLOAD)
        from recipe.tasks import process_recipe
        from taskqueue.backends import enqueue_many
        from taskqueue.compat import task_backends
        from tests.tasks import noop

        self.noop, self.process_recipe, self.enqueue_many = (
            noop,
            process_recipe,
            enqueue_many,
        )
        self.backend = task_backends["default"]
        self.keys = self.backend.broker.keys("default")
        self.sentinel = self.first = ""

    def argv(self, burst: bool) -> list[str]:
        base = [str(self.python), "manage.py", "runworker", "--loglevel", "WARNING",
                "--queue", "default"]  # fmt: skip
        pool = ["--pool", self.pool, "-c", "2"] if self.pool else ["--pool", "solo"]
        return [*base, *pool, "--burst"] if burst else [*base, *pool]

    def fill(self, workload: str, n: int) -> None:
        self.first = self.enqueue_many(self.noop, [((), {})])[0].id
        if workload == "noop":
            self.enqueue_many(self.noop, [((), {})] * n)
        elif workload == "orm":
            self.enqueue_many(
                self.process_recipe, [((i % 1000 + 1,), {}) for i in range(n)]
            )
        elif workload == LEGACY_WORKLOAD:
            self.fill_legacy(n)
        self.sentinel = self.enqueue_many(self.noop, [((), {})])[0].id

    def fill_legacy(self, n: int) -> None:
        """The old producers' messages, as they write them: plain redis-py RPUSH
        of ``{"recipe_id": N}`` onto the default queue's list (``task_queue``),
        which LEGACY_TASK (recipe.tasks.process_recipe) runs: the ORM task."""
        msgs = [b'{"recipe_id": %d}' % (i % 1000 + 1) for i in range(n)]
        for start in range(0, n, 10_000):
            self.r.rpush(self.keys.pending, *msgs[start : start + 10_000])

    def done(self) -> bool:
        """The sentinel ran and, with two consumers, nothing is left in flight."""
        status = records.status(self.backend.broker, self.sentinel)
        if status not in (b"SUCCESSFUL", b"FAILED"):
            return False
        if not self.pool:
            return True
        broker = self.backend.broker
        stats = broker.stats("default")
        return stats.pending == 0 and stats.in_flight == 0

    def pending(self) -> int:
        """Tasks still waiting in the queue (for the RSS growth run)."""
        return int(self.backend.broker.stats("default").pending)

    def window(self) -> float | None:
        """First message's claim (started_at) to the last finish (bench/records.py).

        One consumer finishes the sentinel last; two may finish the sentinel
        while the other still runs its batch, so the latest finished_at of the
        recently settled tasks is the end.
        """
        start = records.times(self.backend.broker, [self.first])[0][0]
        ids = [self.sentinel] + [
            i for i, _ in self.backend.broker.recent_results("default", 20)
        ]
        ends = records.times(self.backend.broker, ids)
        end = max((e for _, e in ends if e), default=None)
        return end - start if start and end else None

    def enqueue(self, n: int) -> dict[str, float]:
        start = time.perf_counter()
        for _ in range(n):
            self.noop.enqueue()
        single = n / (time.perf_counter() - start)
        start = time.perf_counter()
        self.enqueue_many(self.noop, [((), {})] * n)
        return {"single": single, "bulk": n / (time.perf_counter() - start)}

    def latency(self, k: int) -> list[float]:
        out = []
        for _ in range(k):
            sent = time.time()
            key = self.keys.result(self.noop.enqueue().id)
            started = _poll(lambda key=key: self.r.hget(key, "started_at"), 10)
            if started is not None:
                out.append(float(started) - sent)
            time.sleep(0.01)
        return out


class RawLoop(Contender):
    """The raw limits: bench/procs/raw_worker.py in BLPOP or Lua batch mode."""

    def __init__(self, r: redis.Redis, mode: str) -> None:
        super().__init__(r)
        self.mode = mode
        self.name = {"blpop": "raw BLPOP", "lua": "raw Lua batch-100"}[mode]

    def n_for(self, workload: str, n: int) -> int:
        # ~30x the BLPOP loop on no-op: 5x the tasks keeps the start-up error small
        return n * 5 if self.mode == "lua" and workload == "noop" else n

    def argv(self, burst: bool) -> list[str]:
        return [str(self.python), "-m", "bench.procs.raw_worker", self.mode]

    def fill(self, workload: str, n: int) -> None:
        if workload == "orm":
            msgs = [json.dumps({"t": "orm", "a": i % 1000 + 1}) for i in range(n)]
        else:
            msgs = [json.dumps({"t": "noop"})] * (n if workload == "noop" else 0)
        self.r.rpush(RAW_QUEUE, json.dumps({"t": "start"}))
        for start in range(0, len(msgs), 10_000):
            self.r.rpush(RAW_QUEUE, *msgs[start : start + 10_000])
        self.r.rpush(RAW_QUEUE, json.dumps({"t": "done"}))

    def enqueue(self, n: int) -> dict[str, float]:
        start = time.perf_counter()
        for _ in range(n):
            self.r.rpush(RAW_QUEUE, json.dumps({"t": "noop"}))
        single = n / (time.perf_counter() - start)
        start = time.perf_counter()
        self.r.rpush(RAW_QUEUE, *[json.dumps({"t": "noop"}) for _ in range(n)])
        return {"single": single, "bulk": n / (time.perf_counter() - start)}

    def latency(self, k: int) -> list[float]:
        self.r.delete(LATENCY_KEY)
        for i in range(k):
            self.r.rpush(RAW_QUEUE, json.dumps({"t": "stamp", "a": time.time()}))
            _poll(lambda i=i: self.r.llen(LATENCY_KEY) > i or None, 10)
            time.sleep(0.01)
        return [float(x) for x in self.r.lrange(LATENCY_KEY, 0, -1)]


class Peer(Contender):
    """A peer's own CLI worker, fed by its own API through peer_driver."""

    def __init__(self, r: redis.Redis, python: Path, *, name: str, peer: str) -> None:
        super().__init__(r)
        self.python, self.name, self.peer = python, name, peer
        self.spec = PEERS[peer]
        self.scale = self.spec["scale"]
        self.driver = self.spec.get("driver", peer)  # whose API feeds it
        self.settings = self.spec.get("settings", Contender.settings)

    def argv(self, burst: bool) -> list[str]:
        args = list(self.spec["argv"])
        args[0] = str(self.python.parent / args[0])
        return [*args, *self.spec.get("burst" if burst else "serve", [])]

    def worker_env(self) -> dict[str, str]:
        return {**super().worker_env(), **self.spec.get("env", {})}

    def _driver(self, *args: str, timeout: float = 300) -> dict[str, Any]:
        proc = subprocess.run(
            [str(self.python), "-m", "bench.procs.peer_driver", self.driver, *args],
            cwd=ROOT, env={**os.environ, **self.worker_env()}, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{self.peer} driver failed: {last[:300]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result

    def fill(self, workload: str, n: int) -> None:
        self._driver("fill", workload, str(n))

    def enqueue(self, n: int) -> dict[str, float]:
        return self._driver("enqueue", str(n))

    def latency(self, k: int) -> list[float]:
        return list(self._driver("latency", str(k))["latencies"])


# Per peer: label; scale (fraction of N); argv (argv[0] from the venv's bin/);
# optional: driver (whose API feeds it, default the key), burst / serve (extra
# worker args for throughput / idle runs), full_only, venv ("bench", default, or
# "bench6"), settings (DJANGO_SETTINGS_MODULE) and env for worker and driver.
DJANGO6 = {"venv": "bench6", "driver": "django6", "settings": "bench.django6_settings"}
PEERS: dict[str, dict[str, Any]] = {
    "rq": {
        "label": "RQ SimpleWorker",
        "scale": 0.1,
        "argv": ["rq", "worker", "-w", "rq.worker.SimpleWorker", "-q", "default"],
        "burst": ["--burst"],
    },
    "rq-fork": {
        "label": "RQ Worker (fork per job)",
        "driver": "rq",
        "scale": 0.005,  # ~6 tasks/s: 100 tasks (the minimum) already take ~17 s
        "full_only": True,
        "argv": ["rq", "worker", "-q", "default"],
        "burst": ["--burst"],
    },
    "celery": {
        "label": "Celery solo",
        "scale": 0.25,
        "argv": ["celery", "-A", "bench.procs.celery_app", "worker", "-P", "solo",
                 "-c", "1", "-l", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
    },
    "celery-prefork": {
        "label": "Celery prefork -c1",
        "driver": "celery",
        "scale": 0.25,
        "argv": ["celery", "-A", "bench.procs.celery_app", "worker", "-P", "prefork",
                 "-c", "1", "-l", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
    },
    "dramatiq": {
        "label": "Dramatiq -p1 -t1",
        "scale": 0.2,
        "argv": ["dramatiq", "bench.procs.dramatiq_tasks", "-p", "1", "-t", "1"],
    },
    "huey": {
        "label": "Huey thread -w1",
        "scale": 0.5,
        "argv": ["huey_consumer", "bench.procs.huey_tasks.huey", "-k", "thread",
                 "-w", "1", "-n", "-q"],
    },
    # The Django 6 Tasks backends (.venv-bench6): bench.procs.django6_tasks run
    # by each backend's own worker command, bench.django6_settings choosing the
    # backend from BENCH_TASKS_BACKEND.
    "vtasks": {
        "label": "django-vtasks --concurrency 1",
        **DJANGO6,
        "scale": 0.5,
        "env": {"BENCH_TASKS_BACKEND": "vtasks"},
        "argv": ["python", "-m", "django", "runworker", "--queue", "default",
                 "--concurrency", "1"],
    },
    "tasks-redis": {
        "label": "django-tasks-redis",
        **DJANGO6,
        "scale": 0.1,
        "env": {"BENCH_TASKS_BACKEND": "redis"},
        "argv": ["python", "-m", "django", "run_redis_tasks", "--queue", "default"],
        "serve": ["--continuous"],
    },
    "tasks-db": {
        "label": "django-tasks-db db_worker",
        **DJANGO6,
        "scale": 0.1,
        "env": {"BENCH_TASKS_BACKEND": "db"},
        "argv": ["python", "-m", "django", "db_worker", "--queue-name", "default",
                 "-v", "0"],
        "burst": ["--batch"],
    },
    # Huey 3's django.tasks backend: the same consumer as the Huey row, started
    # by djhuey's run_huey; -A: no tasks.py autoload (the shim task imports
    # bench.procs.django6_tasks by path; recipe.tasks is taskqueue's)
    "huey-tasks": {
        "label": "Huey django.tasks -w1",
        **DJANGO6,
        "scale": 0.5,
        "env": {"BENCH_TASKS_BACKEND": "huey"},
        "argv": ["python", "-m", "django", "run_huey", "-k", "thread", "-w", "1",
                 "-n", "-q", "-A"],
    },
}  # fmt: skip


def _poll(probe: Any, timeout: float) -> Any:
    """Call probe() every 0.5 ms until it returns something truthy or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.0005)
    return None


def build(r: redis.Redis, pythons: dict[str, Path], *, quick: bool) -> list[Contender]:
    """Every contender; a peer only if its venv ("bench", "bench6") is in pythons."""
    found: list[Contender] = [
        Taskqueue(r), Taskqueue(r, "prefork"), Taskqueue(r, "threads"),
        RawLoop(r, "blpop"), RawLoop(r, "lua"),
    ]  # fmt: skip
    found += [
        Peer(r, pythons[venv], name=spec["label"], peer=key)
        for key, spec in PEERS.items()
        if (venv := spec.get("venv", "bench")) in pythons
        and not (quick and spec.get("full_only"))
    ]
    return found
