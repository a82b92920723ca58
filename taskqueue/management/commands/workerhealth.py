"""workerhealth: a liveness probe. Exit 0 if the worker's heartbeat is fresh, else 1.

For Kubernetes ``livenessProbe.exec`` (and systemd, Docker HEALTHCHECK):
``python manage.py workerhealth --name "$HOSTNAME"``. It reads the workers
hash that every worker's heartbeat thread rewrites (Broker.workers()); a
heartbeat thread keeps beating during a long task, so a stale entry means a
hung or dead process. Exit codes: 0 healthy, 1 unhealthy, 2 Redis unreachable
(so a probe can tell "this worker is stuck" from "Redis is down").
A prefork worker's children register as ``NAME/<pid>``; ``--name NAME``
matches those too, and any one fresh child makes the worker healthy.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import CommandError

from taskqueue.backends import backend_for
from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.management.commands._common import (
    TaskqueueCommand,
    finite_seconds,
    redis_location,
)
from taskqueue.web.overview import heartbeat_age

UNREACHABLE = 2


class Command(TaskqueueCommand):
    help = (
        "Exit 0 when the named worker (or any worker) has a fresh heartbeat, "
        "1 when not, 2 when Redis is unreachable."
    )

    options = (
        (("--name", "-n"), {"default": None, "help": "worker name (runworker --name)"}),
        (("--max-age",), {
            "type": finite_seconds, "default": None,
            "help": "seconds a heartbeat stays fresh (default: the worker timeout)",
        }),
        (("--backend",), {"default": DEFAULT_TASK_BACKEND_ALIAS, "help": "TASKS alias"}),
    )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        backend = backend_for(options["backend"])
        max_age = options["max_age"] or backend.config.worker_timeout
        try:
            infos = backend.broker.workers()
        except BrokerUnavailable as exc:
            raise CommandError(
                f"cannot reach Redis at {redis_location(backend)}: {exc}",
                returncode=UNREACHABLE,
            ) from None
        healthy, line = verdict(
            infos, name=options["name"], max_age=max_age, now=time.time()
        )
        self.stdout.write(line)
        if not healthy:
            sys.exit(1)


def verdict(
    infos: dict[str, bytes], *, name: str | None, max_age: float, now: float
) -> tuple[bool, str]:
    """(healthy, the one line to print) for the workers hash as read from Redis."""
    entries = {
        key: info
        for key, info in infos.items()
        if name is None or key == name or key.startswith(f"{name}/")
    }
    who = f"worker {name!r}" if name else "any worker"
    if not entries:
        named = f"worker named {name!r}" if name else "worker"
        return False, f"unhealthy: no {named} is registered"
    ages = {key: heartbeat_age(info, now) for key, info in entries.items()}
    freshest = min(ages, key=ages.__getitem__)
    age = ages[freshest]
    if age <= max_age:
        return True, f"ok: {freshest} heartbeat {age:.1f}s ago (max {max_age:g}s)"
    last = "never" if age == float("inf") else f"{age:.1f}s ago"
    return False, f"unhealthy: {who} last heartbeat {last} (max {max_age:g}s)"
