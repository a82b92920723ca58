"""Chaos run for issue 14 ("Partial failure"): real workers, real faults, exact counts.

    .venv/bin/python bench/chaos.py [--seconds N] [--tasks N]
        [--database sqlite|postgres] [--pool mix|solo|threads|prefork]

A private redis-server (AOF on) that the workers reach through a TCP proxy
this script can cut, a database (a SQLite file under var/, or a fresh
PostgreSQL database, also behind a proxy), and W `manage.py runworker`
processes on the default queues (`default` and `high`). Every recipe gets
its own messages: a `process_recipe` task on `default` or `high`, or one or
two identical legacy producer messages (`{'recipe_id': N}` / `{"recipe_id": N}`)
on `task_queue`. A quarter is queued before the workers start, the rest
trickles in while faults are injected at random: SIGKILL a worker (and start
a replacement), SIGSTOP one past the worker timeout, cut the Redis proxy,
kill -9 redis-server and restart it from its AOF, `maxmemory 1` (OOM), cut
the database proxy, or both at once (PostgreSQL), and once: restart Redis from an older RDB
snapshot. Then everything drains, the workers get SIGTERM, and the counts
are checked: each recipe's `processed_count` against its messages, no result
left RUNNING or READY, nothing in flight or pending, no dead letters.

Redis restarted from the old snapshot went back in time, so it may lose
acknowledged work: a message queued after the snapshot and not yet run when
Redis went back is gone, and a legacy message still unwrapped in the snapshot
is adopted again under a new task id, so it counts twice if it had run. Both
are counted apart ("lost to rollback", "doubled by rollback"), from a copy of
the snapshot read back at the end; anything else is an anomaly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.redis_server import free_port, redis_executable  # noqa: E402
from tests.helpers import TcpProxy  # noqa: E402

PREFIX = f"chaos{secrets.token_hex(3)}:"
DEFAULT_LIST = PREFIX + "task_queue"
HIGH_LIST = "{" + PREFIX + "task_queue:high}"
TAGS = ("{" + DEFAULT_LIST + "}", HIGH_LIST)
WAKE = b'{"v":1,"wake":1}'
KINDS = ("task", "task_high", "legacy_str", "legacy_json")
FAULTS = (
    "sigkill_worker", "sigstop_worker", "redis_cut", "redis_kill9", "redis_oom",
    "db_cut", "redis_and_db_cut", "redis_old_snapshot",
)  # fmt: skip
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll until condition() is true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if condition():
                return True
        time.sleep(step)
    return False


# ---------------------------------------------------------------- Redis


class Proxy(TcpProxy):
    """TcpProxy that passes a closed connection on at once.

    TcpProxy's pump closes both sockets when one side ends, but close() does
    not wake the other pump thread blocked in recv() on the same socket, so
    the kernel keeps the connection open: a worker blocked in BLMOVE when
    redis-server is killed would see nothing until its 30 s socket timeout.
    shutdown() first ends the connection for real, as a dead server does.
    """

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class ChaosRedis:
    """redis-server with AOF on a fixed port, killed and restarted at will."""

    def __init__(self, workdir: Path, fsync: str) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.restores = 0

    def args(self, *, appendonly: bool) -> list[str]:
        return [
            redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--dbfilename", "dump.rdb", "--save", "",
            "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", self.fsync, "--maxmemory-policy", "noeviction",
            "--daemonize", "no", "--loglevel", "notice",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=15)

    def start(self, *, appendonly: bool = True) -> None:
        self.proc = subprocess.Popen(self.args(appendonly=appendonly))
        client = self.client()
        if not wait_for(lambda: bool(client.ping()), timeout=60):
            raise RuntimeError("redis-server did not come up")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def snapshot(self) -> Path:
        """SAVE now and keep a copy (the old snapshot restored later)."""
        self.client().save()
        copy = self.dir.parent / "snapshot.rdb"
        shutil.copyfile(self.dir / "dump.rdb", copy)
        return copy

    def restore(self, snapshot: Path) -> None:
        """kill -9, then start from the snapshot alone and turn AOF back on."""
        self.kill9()
        self.restores += 1
        aof = self.dir / "appendonlydir"
        if aof.exists():
            aof.rename(self.dir / f"appendonlydir.before-restore-{self.restores}")
        shutil.copyfile(snapshot, self.dir / "dump.rdb")
        self.start(appendonly=False)
        client = self.client()
        client.config_set("appendonly", "yes")  # rewrites the AOF from this data
        if not wait_for(lambda: _aof_settled(client), timeout=60):
            raise RuntimeError("AOF rewrite after the restore did not finish")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
            self.proc = None


def _aof_settled(client: redis.Redis) -> bool:
    info = client.info("persistence")
    return (
        int(info["aof_enabled"]) == 1
        and int(info["aof_rewrite_in_progress"]) == 0
        and int(info["aof_rewrite_scheduled"]) == 0
    )


def read_snapshot(snapshot: Path, workdir: Path) -> Counter[bytes]:
    """Legacy messages still unwrapped (pending or in flight) in the snapshot."""
    tmp = workdir / "snapshot-read"
    tmp.mkdir()
    shutil.copyfile(snapshot, tmp / "dump.rdb")
    port = free_port()
    proc = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(tmp), "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=15)
        if not wait_for(lambda: bool(client.ping()), timeout=30):
            raise RuntimeError("could not read the snapshot back")
        lists = [DEFAULT_LIST.encode()]
        lists += list(client.scan_iter(match="*:inflight:*"))
        raw: Counter[bytes] = Counter()
        for key in lists:
            raw.update(m for m in client.lrange(key, 0, -1) if _is_raw_legacy(m))
        return raw
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _is_raw_legacy(message: bytes) -> bool:
    return not message.startswith(b'{"v":1')


# ---------------------------------------------------------------- database


class Database:
    """SQLite under the run's folder, or a fresh PostgreSQL database behind a proxy."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.proxy: TcpProxy | None = None
        self.name = f"chaos_{os.getpid()}_{secrets.token_hex(2)}"
        if kind == "sqlite":
            path = workdir / "db.sqlite3"
            self.direct_url = self.worker_url = f"sqlite:///{path}"
            return
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.proxy = Proxy(5432)
        self.direct_url = f"postgres://postgres@127.0.0.1:5432/{self.name}"
        self.worker_url = f"postgres://postgres@127.0.0.1:{self.proxy.port}/{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql)  # the name is ours: chaos_<pid>_<hex>

    def drop(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self.kind == "postgres":
            from django.db import connections

            with contextlib.suppress(Exception):
                connections.close_all()
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# ---------------------------------------------------------------- messages


@dataclass
class Unit:
    """One recipe's messages: a task on a queue, or 1-2 identical legacy messages."""

    recipe_id: int
    kind: str
    copies: int = 1
    task_id: str = ""
    sent_at: float | None = None  # time.monotonic() after the send returned
    uncertain: bool = False


def plan_units(count: int, rng: random.Random) -> list[Unit]:
    weights = (45, 25, 15, 15)
    units = []
    for recipe_id in range(1, count + 1):
        kind = rng.choices(KINDS, weights)[0]
        copies = 2 if kind.startswith("legacy") and rng.random() < 0.25 else 1
        units.append(Unit(recipe_id, kind, copies))
    return units


def legacy_bytes(unit: Unit) -> bytes:
    if unit.kind == "legacy_str":
        return str({"recipe_id": unit.recipe_id}).encode()
    return json.dumps({"recipe_id": unit.recipe_id}).encode()


def send(units: list[Unit], client: redis.Redis) -> None:
    """Queue the units' messages: enqueue_many per queue, RPUSH for legacy ones."""
    from recipe.tasks import process_recipe
    from taskqueue.backends import enqueue_many

    for kind, task in (
        ("task", process_recipe),
        ("task_high", process_recipe.using(queue_name="high")),
    ):
        group = [u for u in units if u.kind == kind]
        if group:
            results = enqueue_many(
                task, [((), {"recipe_id": u.recipe_id}) for u in group]
            )
            for unit, result in zip(group, results, strict=True):
                unit.task_id = result.id
    legacy = [
        legacy_bytes(u)
        for u in units
        if u.kind.startswith("legacy")
        for _ in range(u.copies)
    ]
    if legacy:
        client.rpush(DEFAULT_LIST, *legacy)
    now = time.monotonic()
    for unit in units:
        unit.sent_at = now


class Producer(threading.Thread):
    """Sends units in bursts while faults run; pauses while the injector holds the gate.

    Bursts (every 1-5 s, of random size) give both a deep backlog, where
    consumers claim big batches, and idle spells, where they block: faults
    land on both.
    """

    def __init__(
        self,
        units: list[Unit],
        *,
        seconds: float,
        gate: threading.Lock,
        client: redis.Redis,
        rng: random.Random,
    ) -> None:
        super().__init__(name="producer", daemon=True)
        self.units, self.seconds, self.gate, self.client = units, seconds, gate, client
        self.rng = rng
        self.errors = 0
        # (action, done) run right after a send, inside the gate (Chaos.at_burst)
        self.requests: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]]
        self.requests = queue.SimpleQueue()

    def bursts(self) -> list[tuple[float, list[Unit]]]:
        times, at = [], 0.0
        while at < self.seconds:
            times.append(at)
            at += self.rng.uniform(1.0, 5.0)
        weights = [self.rng.expovariate(1.0) for _ in times]
        total, out, start = sum(weights), [], 0
        for i, (when, weight) in enumerate(zip(times, weights, strict=True)):
            end = (
                len(self.units)
                if i == len(times) - 1
                else start + round(len(self.units) * weight / total)
            )
            out.append((when, self.units[start:end]))
            start = end
        return out

    def run(self) -> None:
        started = time.monotonic()
        for when, chunk in self.bursts():
            time.sleep(max(0.0, started + when - time.monotonic()))
            if not chunk:
                continue
            with self.gate:
                try:
                    send(chunk, self.client)
                except Exception as exc:
                    self.errors += 1
                    log(f"producer: send of {len(chunk)} units failed: {exc!r}")
                    for unit in chunk:
                        unit.uncertain = True
                while not self.requests.empty():
                    action, done = self.requests.get()
                    action()
                    done.set()


# ---------------------------------------------------------------- workers


@dataclass
class WorkerProc:
    name: str
    pool: str
    concurrency: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    fate: str = "running"  # running | killed | stopped

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []


class Workers:
    def __init__(
        self, env: dict[str, str], workdir: Path, pools: list[tuple[str, int]]
    ) -> None:
        self.env, self.workdir, self.pools = env, workdir, pools
        self.all: list[WorkerProc] = []

    @property
    def live(self) -> list[WorkerProc]:
        return [w for w in self.all if w.fate == "running" and w.proc.poll() is None]

    def start(self, pool: str, concurrency: int) -> WorkerProc:
        name = f"w{len(self.all) + 1}"
        log_path = self.workdir / f"{name}-{pool}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runworker", "--pool", pool,
                 "--concurrency", str(concurrency), "--name", name, "--loglevel", "INFO"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        worker = WorkerProc(name, pool, concurrency, proc, log_path)
        self.all.append(worker)
        return worker

    def start_all(self) -> None:
        for pool, concurrency in self.pools:
            self.start(pool, concurrency)

    def stop_all(self, grace: float) -> dict[str, int | None]:
        for worker in self.live:
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        codes: dict[str, int | None] = {}
        for worker in self.all:
            try:
                codes[worker.name] = worker.proc.wait(
                    max(0.1, deadline - time.monotonic())
                )
            except subprocess.TimeoutExpired:
                codes[worker.name] = None
        return codes

    def kill_leftovers(self) -> int:
        """SIGKILL every process group we started (orphaned prefork children too)."""
        left = 0
        for worker in self.all:
            try:
                os.killpg(worker.proc.pid, signal.SIGKILL)
                left += 1
            except (ProcessLookupError, PermissionError):
                continue
        for worker in self.all:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(5)
        return left


# ---------------------------------------------------------------- faults


@dataclass
class Chaos:
    redis: ChaosRedis
    redis_proxy: TcpProxy
    db: Database
    workers: Workers
    gate: threading.Lock
    rng: random.Random
    worker_timeout: float
    faults: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    kinds: frozenset[str] = frozenset(FAULTS)
    producer: Producer | None = None
    snapshot: Path | None = None
    saved_at: float | None = None
    restored_at: float | None = None

    def note(self, kind: str, detail: str) -> None:
        self.faults[kind] += 1
        line = f"{time.strftime('%H:%M:%S')} {kind}: {detail}"
        self.events.append(line)
        log(f"fault {kind}: {detail}")

    def choices(self) -> list[Callable[[], None]]:
        weights = {
            "sigkill_worker": (self.kill_worker, 2), "sigstop_worker": (self.stop_worker, 1),
            "redis_cut": (self.cut_redis, 1), "redis_kill9": (self.kill_redis, 1),
            "redis_oom": (self.oom_redis, 1),
        }  # fmt: skip
        if self.db.proxy is not None:
            weights["db_cut"] = (self.cut_db, 2)
            weights["redis_and_db_cut"] = (self.cut_both, 1)
        return [
            fault
            for kind, (fault, weight) in weights.items()
            if kind in self.kinds
            for _ in range(weight)
        ]

    def run(self, seconds: float) -> None:
        started = time.monotonic()
        end = started + seconds
        save_at, restore_at = started + 0.25 * seconds, started + 0.6 * seconds
        while time.monotonic() < end:
            time.sleep(self.rng.uniform(2.0, 5.0))
            now = time.monotonic()
            if now >= end:
                break
            rollback = "redis_old_snapshot" in self.kinds
            if rollback and self.snapshot is None and now >= save_at:
                self.save()
            elif self.restored_at is None and self.snapshot and now >= restore_at:
                self.restore()
            elif self.choices():
                self.rng.choice(self.choices())()

    def kill_worker(self) -> None:
        worker = self.rng.choice(self.workers.live)
        how = "main"
        if worker.pool == "prefork":
            how = self.rng.choice(["main", "group", "child"])
        if how == "child" and worker.children():
            child = self.rng.choice(worker.children())
            os.kill(child, signal.SIGKILL)
            self.note("sigkill_worker", f"{worker.name} prefork child pid={child}")
            return
        if how == "group":
            os.killpg(worker.proc.pid, signal.SIGKILL)
        else:
            worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(10)
        worker.fate = "killed"
        new = self.workers.start(worker.pool, worker.concurrency)
        self.note(
            "sigkill_worker",
            f"{worker.name} ({worker.pool}, {how}); replaced by {new.name}",
        )

    def stop_worker(self) -> None:
        worker = self.rng.choice(self.workers.live)
        pause = self.worker_timeout + self.rng.uniform(1.0, 4.0)
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        self.note("sigstop_worker", f"{worker.name} ({worker.pool}) for {pause:.1f}s")
        time.sleep(pause)
        os.killpg(worker.proc.pid, signal.SIGCONT)

    def cut_redis(self) -> None:
        pause = self.rng.uniform(2.0, 6.0)
        self.note("redis_cut", f"{pause:.1f}s")
        self.redis_proxy.cut()
        time.sleep(pause)
        self.redis_proxy.restore()

    def kill_redis(self) -> None:
        pause = self.rng.uniform(0.5, 2.0)
        with self.gate:
            self.note("redis_kill9", f"down {pause:.1f}s, back from its AOF")
            self.redis.kill9()
            time.sleep(pause)
            self.redis.start()

    def oom_redis(self) -> None:
        pause = self.rng.uniform(1.5, 2.5)
        client = self.redis.client()
        with self.gate:
            self.note("redis_oom", f"maxmemory 1 for {pause:.1f}s")
            client.config_set("maxmemory", 1)
            time.sleep(pause)
            client.config_set("maxmemory", 0)

    def cut_db(self) -> None:
        assert self.db.proxy is not None  # noqa: S101 (only chosen for PostgreSQL)
        pause = self.rng.uniform(3.0, 10.0)
        self.note("db_cut", f"{pause:.1f}s")
        self.db.proxy.cut()
        time.sleep(pause)
        self.db.proxy.restore()

    def at_burst(self, action: Callable[[], None]) -> None:
        """Run action right after the producer's next send (inside the gate),
        so that fresh messages are pending at that instant; at once if it is done."""
        done = threading.Event()

        def once() -> None:  # both callers hold the gate
            if not done.is_set():
                action()

        producer = self.producer
        if producer is not None and producer.is_alive():
            producer.requests.put((once, done))
            if done.wait(15.0):
                return
        with self.gate:
            once()
            done.set()

    def cut_both(self) -> None:
        """The workers' network goes: Redis and the database at the same instant,
        right after a burst is sent (so that consumers are in the middle of tasks)."""
        assert self.db.proxy is not None  # noqa: S101 (only chosen for PostgreSQL)
        db_proxy, pause = self.db.proxy, self.rng.uniform(3.0, 6.0)

        def action() -> None:
            self.note("redis_and_db_cut", f"{pause:.1f}s, after a burst")
            db_proxy.cut()
            self.redis_proxy.cut()
            time.sleep(pause)
            self.redis_proxy.restore()
            db_proxy.restore()

        self.at_burst(action)

    def save(self) -> None:
        def action() -> None:
            self.snapshot = self.redis.snapshot()
            self.saved_at = time.monotonic()
            pending = self.redis.client().llen(DEFAULT_LIST)
            self.events.append(
                f"{time.strftime('%H:%M:%S')} SAVE ({pending} pending on task_queue)"
            )
            log(
                f"SAVE: snapshot kept for the restore ({pending} pending on task_queue)"
            )

        self.at_burst(action)

    def restore(self) -> None:
        assert self.snapshot is not None  # noqa: S101

        def action() -> None:
            self.restored_at = time.monotonic()
            age = self.restored_at - (self.saved_at or 0)
            self.note(
                "redis_old_snapshot", f"kill -9, back from the SAVE of {age:.0f}s ago"
            )
            self.redis.restore(self.snapshot)  # type: ignore[arg-type]

        self.at_burst(action)


# ---------------------------------------------------------------- checks


@dataclass
class Inventory:
    pending: int
    scheduled: int
    in_flight: int
    ready: int
    redelivered: int = 0  # {Q}:redelivered entries (recovery counts not cleared)

    @property
    def idle(self) -> bool:
        return not (self.pending or self.scheduled or self.in_flight)


def inventory(client: redis.Redis) -> Inventory:
    pending = 0
    for key in (DEFAULT_LIST, HIGH_LIST):
        pending += client.llen(key) - len(client.lpos(key, WAKE, count=0) or [])
    pending += sum(client.zcard(tag + ":prio") for tag in TAGS)
    scheduled = sum(client.zcard(tag + ":scheduled") for tag in TAGS)
    in_flight = sum(client.llen(k) for k in client.scan_iter(match="*:inflight:*"))
    ready = sum(client.hlen(tag + ":ready") for tag in TAGS)
    redelivered = sum(client.hlen(tag + ":redelivered") for tag in TAGS)
    return Inventory(pending, scheduled, in_flight, ready, redelivered)


def drain(client: redis.Redis, timeout: float) -> tuple[bool, float]:
    """Wait until nothing is pending, scheduled or in flight for 5 s in a row."""
    started = time.monotonic()
    idle_since: list[float] = []

    def settled() -> bool:
        if not inventory(client).idle:
            idle_since.clear()
            return False
        idle_since[:1] = idle_since[:1] or [time.monotonic()]
        return time.monotonic() - idle_since[0] >= 5.0

    done = wait_for(settled, timeout, step=0.5)
    return done, time.monotonic() - started


def results_state(client: redis.Redis) -> tuple[Counter[str], list[str]]:
    statuses: Counter[str] = Counter()
    stuck: list[str] = []
    for key in client.scan_iter(match="*:result:*", count=1000):
        status = (client.hget(key, "status") or b"?").decode()
        statuses[status] += 1
        if status in ("RUNNING", "READY"):
            stuck.append(f"{key.decode()} {status} worker={client.hget(key, 'worker')}")
    return statuses, stuck


def check_records(
    units: list[Unit], client: redis.Redis, chaos: Chaos
) -> tuple[list[str], int, int]:
    """Each task id's record: SUCCESSFUL, or gone with the rollback (sent between
    the SAVE and the restore, so the old snapshot never had it); anything else is
    listed. Also: legacy task ids (rows of the exactly-once table that no
    enqueued task has) whose record is missing."""
    from taskqueue.models import TaskRecord

    after_save, before_restore = (
        chaos.saved_at or float("inf"),
        chaos.restored_at or float("-inf"),
    )
    wrong, gone = [], 0
    for unit in units:
        if not unit.task_id:
            continue
        tag = TAGS[1] if unit.kind == "task_high" else TAGS[0]
        status = client.hget(f"{tag}:result:{unit.task_id}", "status")
        if status == b"SUCCESSFUL":
            continue
        if (
            status is None
            and unit.sent_at
            and after_save < unit.sent_at < before_restore
        ):
            gone += 1
        else:
            wrong.append(f"recipe {unit.recipe_id} task_id={unit.task_id}: {status!r}")
    ids = {u.task_id for u in units if u.task_id}
    legacy_ids = [
        i for i in TaskRecord.objects.values_list("task_id", flat=True) if i not in ids
    ]
    with client.pipeline(transaction=False) as pipe:
        for task_id in legacy_ids:
            pipe.hget(f"{TAGS[0]}:result:{task_id}", "status")
        legacy_missing = sum(status is None for status in pipe.execute())
    return wrong, gone, legacy_missing


def redelivered_left(client: redis.Redis) -> list[str]:
    """What is left in the {Q}:redelivered hashes (each settle should clear its own)."""
    return [
        f"{tag}: {raw[:90]!r} x{int(count)}"
        for tag in TAGS
        for raw, count in client.hgetall(tag + ":redelivered").items()
    ]


def dead_letters(client: redis.Redis) -> list[str]:
    reasons = []
    for tag in TAGS:
        for entry in client.hvals(tag + ":dead"):
            data = json.loads(entry)
            reasons.append(
                f"{data['queue']}: {data['reason']} task_id={data['task_id']} {data['preview'][:80]}"
            )
    return reasons


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    lost_rollback: int = 0
    doubled_rollback: int = 0
    uncertain: int = 0


def judge(
    units: list[Unit], counts: dict[int, int], *, chaos: Chaos, raw_then: Counter[bytes]
) -> Verdict:
    verdict = Verdict()
    after_save = chaos.saved_at or float("inf")
    before_restore = chaos.restored_at or float("-inf")
    for unit in units:
        got, want = counts.get(unit.recipe_id, 0), unit.copies
        if unit.uncertain:
            verdict.uncertain += 1
            continue
        if got < want:
            rolled = (
                unit.sent_at is not None and after_save < unit.sent_at < before_restore
            )
            if rolled:
                verdict.lost_rollback += want - got
            else:
                verdict.lost.append(
                    f"recipe {unit.recipe_id} {unit.kind} x{want}: {got} task_id={unit.task_id or '-'}"
                )
        elif got > want:
            if (
                unit.kind.startswith("legacy")
                and legacy_bytes(unit) in raw_then
                and got - want <= raw_then[legacy_bytes(unit)]
            ):
                verdict.doubled_rollback += got - want
            else:
                verdict.duplicated.append(
                    f"recipe {unit.recipe_id} {unit.kind} x{want}: {got} task_id={unit.task_id or '-'}"
                )
    return verdict


LOG_MARKS = {
    "re-runs absorbed by once_per_task": "already processed by task",
    "recoveries (log lines)": "Recovered ",
    "Redis unavailable (log lines)": "Redis unavailable",
    "database outages (log lines)": "Database unavailable",
    "tracebacks": "Traceback (most recent call last)",
    "dead-lettered (log lines)": "Message dead-lettered",
    "tasks failed (log lines)": "Task failed",
    "prefork children replaced": "replacing it",
}


def scan_logs(workers: Workers) -> Counter[str]:
    marks: Counter[str] = Counter()
    for worker in workers.all:
        text = worker.log_path.read_text(errors="replace")
        for label, needle in LOG_MARKS.items():
            marks[label] += text.count(needle)
    return marks


# ---------------------------------------------------------------- main


def setup_django(redis_url: str, db: Database, workdir: Path) -> dict[str, str]:
    """Migrate and configure Django here; returns the workers' environment."""
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TASKQUEUE_KEY_PREFIX": PREFIX,
        "TASKQUEUE_VAR_DIR": str(workdir),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
    }
    here = {
        **base,
        "REDIS_URL": redis_url,
        "TEST_REDIS_URL": redis_url,
        "DATABASE_URL": db.direct_url,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=here, check=True, timeout=300,
    )  # fmt: skip
    os.environ.update(here)
    import django

    django.setup()
    return base


def seed(units: list[Unit]) -> None:
    from recipe.models import Recipe

    Recipe.objects.bulk_create(
        Recipe(id=u.recipe_id, name=f"Chaos {u.recipe_id}", ingredients="1 cup flour\n2 eggs",
               instructions="Mix. Bake for 20 minutes.")
        for u in units
    )  # fmt: skip


def processed_counts() -> dict[int, int]:
    from django.db import connection

    from recipe.models import Recipe

    counts = dict(Recipe.objects.values_list("id", "processed_count"))
    connection.close()
    return counts


def pools_for(choice: str, count: int) -> list[tuple[str, int]]:
    mix = [("threads", 4), ("prefork", 2), ("solo", 1), ("threads", 4)]
    sizes = {"solo": 1, "threads": 4, "prefork": 2}
    if choice == "mix":
        return [mix[i % len(mix)] for i in range(count)]
    return [(choice, sizes[choice])] * count


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=180.0, help="fault phase length"
    )
    parser.add_argument(
        "--tasks", type=int, default=4000, help="recipes (one unit each)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--pool", choices=("mix", "solo", "threads", "prefork"), default="mix"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-timeout", type=float, default=3.0)
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always")
    parser.add_argument("--drain-timeout", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--faults", default=",".join(FAULTS),
        help="comma-separated kinds to inject (default: all; db ones need postgres)",
    )  # fmt: skip
    parser.add_argument(
        "--keep", action="store_true", help="keep var/chaos-* and the database"
    )
    args = parser.parse_args()
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    return args


@contextlib.contextmanager
def environment(
    args: argparse.Namespace, workdir: Path
) -> Iterator[tuple[ChaosRedis, TcpProxy, Database]]:
    server = ChaosRedis(workdir, args.fsync)
    server.start()
    proxy = Proxy(server.port)
    db = Database(args.database, workdir)
    try:
        yield server, proxy, db
    finally:
        proxy.close()
        server.stop()
        if not args.keep:
            db.drop()


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with environment(args, workdir) as (server, proxy, db):
        env = setup_django(f"redis://127.0.0.1:{server.port}/0", db, workdir)
        worker_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0",
                      "TEST_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0",
                      "DATABASE_URL": db.worker_url,
                      "TASKQUEUE_WORKER_TIMEOUT": str(args.worker_timeout)}  # fmt: skip
        units = plan_units(args.tasks, rng)
        seed(units)
        client = server.client()
        upfront = len(units) // 4
        send(units[:upfront], client)
        workers = Workers(worker_env, workdir, pools_for(args.pool, args.workers))
        workers.start_all()
        gate = threading.Lock()
        chaos = Chaos(server, proxy, db, workers, gate, rng, args.worker_timeout)
        chaos.kinds = frozenset(args.faults.split(","))
        producer = Producer(
            units[upfront:],
            seconds=0.85 * args.seconds,
            gate=gate,
            client=client,
            rng=rng,
        )
        chaos.producer = producer
        started = time.monotonic()
        producer.start()
        chaos.run(args.seconds)
        producer.join()
        fault_phase = time.monotonic() - started
        log("faults over; draining")
        drained, drain_time = drain(client, args.drain_timeout)
        before_stop = inventory(client)
        codes = workers.stop_all(grace=45.0)
        leftovers = workers.kill_leftovers()
        after_stop = inventory(client)
        raw_then = (
            read_snapshot(chaos.snapshot, workdir) if chaos.snapshot else Counter()
        )
        verdict = judge(units, processed_counts(), chaos=chaos, raw_then=raw_then)
        statuses, stuck = results_state(client)
        wrong, gone, legacy_missing = check_records(units, client, chaos)
        return {
            "args": vars(args), "units": units, "chaos": chaos, "verdict": verdict,
            "statuses": statuses, "stuck": stuck, "dead": dead_letters(client),
            "redelivered": redelivered_left(client),
            "drained": drained, "fault_phase": fault_phase, "drain_time": drain_time,
            "before_stop": before_stop, "after_stop": after_stop, "codes": codes,
            "leftovers": leftovers, "marks": scan_logs(workers), "workers": workers,
            "producer_errors": producer.errors, "raw_then": raw_then.total(),
            "wrong_records": wrong, "records_gone": gone, "legacy_missing": legacy_missing,
        }  # fmt: skip


def report(r: dict[str, Any], workdir: Path) -> bool:
    args, units, chaos, verdict = r["args"], r["units"], r["chaos"], r["verdict"]
    messages = Counter()
    for unit in units:
        messages[unit.kind] += unit.copies
    before, after = r["before_stop"], r["after_stop"]
    workers = r["workers"]
    rows = [
        ("database / pools", f"{args['database']} / {', '.join(f'{p}x{c}' for p, c in workers.pools)}"),
        ("recipes (units)", len(units)),
        ("messages", f"{sum(messages.values())}: " + ", ".join(f"{k} {messages[k]}" for k in KINDS)),
        ("faults", ", ".join(f"{k} {n}" for k, n in sorted(chaos.faults.items())) or "none"),
        ("workers started (killed)", f"{len(workers.all)} ({sum(w.fate == 'killed' for w in workers.all)})"),
        ("lost", len(verdict.lost)),
        ("duplicated", len(verdict.duplicated)),
        ("lost to rollback (old snapshot)", verdict.lost_rollback),
        ("doubled by rollback (old snapshot)", f"{verdict.doubled_rollback} (raw legacy messages in the snapshot: {r['raw_then']})"),
        ("uncertain (producer error)", verdict.uncertain),
        ("stuck RUNNING/READY records", len(r["stuck"])),
        ("READY entries left ({Q}:ready)", after.ready),
        ("task records not SUCCESSFUL", len(r["wrong_records"])),
        ("task records gone with the rollback", r["records_gone"]),
        ("legacy task ids without a record", r["legacy_missing"]),
        ("result statuses", dict(r["statuses"])),
        ("in flight left (before / after stop)", f"{before.in_flight} / {after.in_flight}"),
        ("pending left (before / after stop)", f"{before.pending} / {after.pending}"),
        ("scheduled left", after.scheduled),
        ("redelivery counts left ({Q}:redelivered)", after.redelivered),
        ("dead letters", len(r["dead"])),
        ("worker exit codes", " ".join(f"{n}={c}" for n, c in r["codes"].items())),
        ("process groups SIGKILLed at cleanup", r["leftovers"]),
        ("drained", f"{r['drained']} in {r['drain_time']:.0f}s"),
        ("duration", f"faults {r['fault_phase']:.0f}s + drain {r['drain_time']:.0f}s"),
        *((label, n) for label, n in r["marks"].items()),
    ]  # fmt: skip
    width = max(len(str(k)) for k, _ in rows)
    print("\n" + "\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    for title, lines in (
        ("LOST", verdict.lost), ("DUPLICATED", verdict.duplicated),
        ("STUCK", r["stuck"]), ("DEAD LETTERS", r["dead"]),
        ("RECORDS NOT SUCCESSFUL", r["wrong_records"]),
        ("REDELIVERY COUNTS LEFT", r["redelivered"]),
    ):  # fmt: skip
        if lines:
            print(f"\n{title} ({len(lines)}):\n  " + "\n  ".join(lines[:30]))
    (workdir / "faults.log").write_text("\n".join(chaos.events) + "\n")
    summary = {str(k): str(v) for k, v in rows}
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nlogs, faults.log and summary.json in {workdir}")
    return not (verdict.lost or verdict.duplicated or r["stuck"] or after.ready or r["dead"]
                or r["wrong_records"]
                or after.in_flight or after.pending)  # fmt: skip


def main() -> int:
    args = parse_args()
    workdir = ROOT / "var" / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}-{args.database}"
    workdir.mkdir(parents=True)
    log(f"chaos run in {workdir} (prefix {PREFIX})")
    return 0 if report(run(args, workdir), workdir) else 1


if __name__ == "__main__":
    sys.exit(main())
