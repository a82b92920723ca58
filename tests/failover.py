"""Sentinel failover under load: a primary, two replicas, three sentinels on loopback.

``SentinelSet`` starts them; ``run_failover`` enqueues tasks (``record_run``)
while workers run, SIGKILLs the primary after ``kill_at`` enqueues, waits for
the promotion and for every acknowledged task, and returns what ran how often.
Used by tests/process/test_failover.py (DURABILITY "replicated": asserted)
and bench/failover_loss.py (DURABILITY "primary": measured).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from taskqueue.exceptions import NotDurable, TaskQueueError
from tests.conftest import wait_until
from tests.helpers import free_port, redis_server_binary
from tests.replication import ReplicaSet

SERVICE = "mymaster"


class SentinelView:
    """The sentinels' ports and the first primary: enough to watch a failover
    and cause one (another process can rebuild it with ``attach``)."""

    def __init__(self, ports: list[int], old_primary: int, primary_pid: int) -> None:
        self.ports, self.old_primary, self.primary_pid = ports, old_primary, primary_pid

    @classmethod
    def attach(cls, workdir: Path) -> SentinelView:
        saved = json.loads((workdir / "sentinels.json").read_text())
        return cls(saved["ports"], saved["old_primary"], saved["primary_pid"])

    def save(self, workdir: Path) -> None:
        (workdir / "sentinels.json").write_text(
            json.dumps(
                {
                    "ports": self.ports,
                    "old_primary": self.old_primary,
                    "primary_pid": self.primary_pid,
                }
            )
        )

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def kill_primary(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.primary_pid, signal.SIGKILL)

    def primary_port(self) -> int | None:
        """The primary as the first sentinel that answers names it."""
        for port in self.ports:
            try:
                addr = redis.Redis(port=port, socket_timeout=1).execute_command(
                    "SENTINEL", "get-master-addr-by-name", SERVICE
                )
            except redis.RedisError:
                continue
            if addr:
                return int(addr[1])
        return None

    def promoted(self) -> bool:
        """A replica is the primary now, and answers as one."""
        port = self.primary_port()
        if port is None or port == self.old_primary:
            return False
        try:
            role = redis.Redis(port=port, socket_timeout=1).execute_command("ROLE")
        except redis.RedisError:
            return False
        return role[0] in (b"master", "master")


class SentinelSet(SentinelView):
    """ReplicaSet(2) watched by three sentinels (quorum 2, down after 1 s)."""

    def __init__(self, workdir: Path, *, sentinels: int = 3) -> None:
        self.servers = ReplicaSet(2)
        primary = self.servers.primary
        assert primary.proc is not None
        super().__init__(
            [free_port() for _ in range(sentinels)], primary.port, primary.proc.pid
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        for n, port in enumerate(self.ports):
            conf = workdir / f"sentinel-{n}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                f"logfile {workdir / f'sentinel-{n}.log'}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.old_primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 2\n"
            )
            self.procs.append(
                subprocess.Popen(
                    [redis_server_binary(), str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait_until(self._all_see_everyone, timeout=20)

    def _all_see_everyone(self) -> bool:
        for port in self.ports:
            try:
                info = redis.Redis(port=port, socket_timeout=1).execute_command(
                    "SENTINEL", "master", SERVICE
                )
            except redis.RedisError:
                return False
            seen = _fields(info)
            others = int(seen.get("num-other-sentinels", 0))
            if int(seen.get("num-slaves", 0)) < 2 or others < len(self.ports) - 1:
                return False
        return True

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
        self.servers.close()


def _fields(info: Any) -> dict[str, Any]:
    """SENTINEL MASTER's reply (a flat list, or a map under RESP3) as a dict."""
    pairs = (
        info.items()
        if isinstance(info, dict)
        else zip(info[::2], info[1::2], strict=True)
    )
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in pairs}


@dataclass
class Outcome:
    acknowledged: list[str] = field(default_factory=list)  # enqueue() returned
    unsure: list[str] = field(default_factory=list)  # NotDurable: may exist
    failed: int = 0  # enqueue raised another outage (id unknown)
    runs: collections.Counter[str] = field(default_factory=collections.Counter)
    ran_by: dict[str, set[int]] = field(default_factory=dict)  # id -> worker pids
    failover_seconds: float = 0.0
    promoted_at: int = 0  # acknowledged enqueues before the new primary was seen

    def pids_after_failover(self) -> set[int]:
        """The workers that ran tasks enqueued after the promotion."""
        later = self.acknowledged[self.promoted_at :] if self.promoted_at else []
        return {pid for task_id in later for pid in self.ran_by.get(task_id, ())}

    @property
    def lost(self) -> list[str]:
        return [task_id for task_id in self.acknowledged if not self.runs[task_id]]

    @property
    def twice(self) -> list[str]:
        return [task_id for task_id, n in self.runs.items() if n > 1]


def run_failover(
    sentinels: SentinelView, *, enqueue: Callable[[], str], drained: Callable[[], bool],
    record: Path, total: int = 5000, kill_at: int = 1500, timeout: float = 60,
) -> Outcome:  # fmt: skip
    """Enqueue ``total`` tasks (workers already running), kill the primary at
    ``kill_at``, then wait for the acknowledged tasks and an empty queue."""
    outcome = Outcome()
    deadline = time.monotonic() + timeout
    killed_at: float | None = None
    while len(outcome.acknowledged) < total and time.monotonic() < deadline:
        if killed_at is None and len(outcome.acknowledged) >= kill_at:
            sentinels.kill_primary()
            killed_at = time.monotonic()
        try:
            outcome.acknowledged.append(enqueue())
        except NotDurable as exc:
            outcome.unsure.extend(exc.task_ids)
        except TaskQueueError:
            outcome.failed += 1
            time.sleep(0.02)
        if killed_at and not outcome.failover_seconds and sentinels.promoted():
            outcome.failover_seconds = time.monotonic() - killed_at
            outcome.promoted_at = len(outcome.acknowledged)
    wait_until(drained, timeout=max(1.0, deadline - time.monotonic()))
    lines = [line.split() for line in record.read_text().splitlines()]
    outcome.runs = collections.Counter(task_id for task_id, _ in lines)
    for task_id, pid in lines:
        outcome.ran_by.setdefault(task_id, set()).add(int(pid))
    return outcome


def queue_drained(broker: Any) -> Callable[[], bool]:
    """Nothing pending, scheduled or in flight on the default queue (outage: no)."""

    def drained() -> bool:
        try:
            stats = broker.stats("default")
        except TaskQueueError:
            return False
        return stats.pending == 0 and stats.in_flight == 0 and stats.scheduled == 0

    return drained
