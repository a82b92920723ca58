"""QueueOptions: the backend's OPTIONS as a typed, validated, frozen object."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from taskqueue import taskoptions
from taskqueue.attempts import backend_defaults
from taskqueue.protocol import MAX_ATTEMPT

MiB = 1024 * 1024


# Lua's unpack takes at most 8,000 values: the claim and the settle unpack a
# batch's messages and ids.
MAX_BATCH_LIMIT = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueOptions:
    """Every knob of the queue, with its default. Keys are OPTIONS names lower-cased."""

    redis_url: str | None = None
    embedded_dir: str | None = None
    key_prefix: str = ""
    result_ttl: int = 7 * 24 * 3600
    enqueue_on_commit: bool = True
    max_retries: int = 3
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0
    max_deliveries: int = 5
    worker_timeout: float = 30.0
    time_limit: float | None = None
    shutdown_grace: float = 30.0
    max_message_bytes: int = MiB
    max_batch: int = 100
    legacy_task: str | None = None
    task_modules: tuple[str, ...] = ()
    # "primary": acknowledged when the primary has it; "replicated": each
    # enqueue, claim and settle also waits (WAIT) for MIN_REPLICAS replicas.
    durability: str = "primary"
    min_replicas: int = 1
    # Seconds a write waits for its replicas. A replica acknowledges within a
    # millisecond or two on a LAN; one second covers a replica that is busy
    # (a fork for a snapshot, a slow fsync) while bounding what a web request
    # spends on an enqueue when a replica is gone.
    replication_timeout: float = 1.0
    # Dead letters wait for a person: 30 days outlives a results TTL (7 days)
    # and an incident review; 10,000 per queue bounds the memory (each holds
    # its message plus about 400 bytes) when a poison source floods a queue.
    dead_letter_ttl: int = 30 * 24 * 3600
    dead_letter_max: int = 10_000
    schedules: dict[str, Any] | None = None  # name -> spec (taskqueue/schedules.py)
    # task path -> its control options (taskqueue/taskoptions.py), checked
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    # From TASKS[alias]["BACKOFF"] (#142), not OPTIONS; MAX_ATTEMPTS sets max_retries.
    backoff: Callable[[BaseException, Any], Any] | None = field(
        default=None, metadata={"option": False}
    )

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> QueueOptions:
        """The options of a whole TASKS entry: OPTIONS, plus #142's MAX_ATTEMPTS
        and BACKOFF beside it (taskqueue/attempts.py); ImproperlyConfigured if bad."""
        options = params.get("OPTIONS") or {}
        result = cls.from_options(options)
        max_attempts, backoff = backend_defaults(params, options)
        if max_attempts is not None:
            result = replace(result, max_retries=max_attempts - 1)
        return replace(result, backoff=backoff) if backoff else result

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> QueueOptions:
        known = {f.name for f in option_fields()}
        values: dict[str, Any] = {}
        for key, value in options.items():
            name = key.lower()
            if name not in known:
                raise ImproperlyConfigured(f"unknown taskqueue OPTIONS key {key!r}")
            values[name] = tuple(value) if name == "task_modules" else value
            if name == "task_options":
                values[name] = taskoptions.from_settings(value)
        env_timeout = os.environ.get("TASKQUEUE_WORKER_TIMEOUT")
        if env_timeout:
            values["worker_timeout"] = _positive(
                "TASKQUEUE_WORKER_TIMEOUT", env_timeout
            )
        result = cls(**values)
        result.validate()
        return result

    def validate(self) -> None:
        for name in ("result_ttl", "max_deliveries", "max_message_bytes", "max_batch"):
            if int(getattr(self, name)) < 1:
                raise ImproperlyConfigured(f"OPTIONS {name.upper()} must be >= 1")
        if self.max_batch > MAX_BATCH_LIMIT:  # the scripts unpack a batch's values
            raise ImproperlyConfigured(
                f"OPTIONS MAX_BATCH must be <= {MAX_BATCH_LIMIT}"
            )
        if not 0 <= self.max_retries < MAX_ATTEMPT:
            raise ImproperlyConfigured(
                f"OPTIONS MAX_RETRIES must be from 0 to {MAX_ATTEMPT - 1}"
            )
        if self.worker_timeout <= 0 or self.shutdown_grace < 0:
            raise ImproperlyConfigured("worker timeout and grace must be positive")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ImproperlyConfigured("OPTIONS TIME_LIMIT must be positive or None")
        if self.schedules is not None:  # the shapes; tasks are checked by the worker
            from taskqueue.schedules import parse_all

            parse_all(self.schedules)
        validate_durability(self)
        for name in ("dead_letter_ttl", "dead_letter_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ImproperlyConfigured(
                    f"OPTIONS {name.upper()} must be an integer >= 1"
                )

    @property
    def heartbeat_interval(self) -> float:
        """How often a worker proves it is alive: a third of the timeout."""
        return max(0.2, min(self.worker_timeout / 3, 10.0))


def option_fields() -> list[Any]:
    """The fields that are OPTIONS keys (not those set beside OPTIONS)."""
    return [f for f in fields(QueueOptions) if f.metadata.get("option", True)]


def _positive(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds") from None
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be positive")
    return value


DURABILITIES = ("primary", "replicated")
MAX_REPLICATION_TIMEOUT = 60.0  # a longer WAIT would outlast any request


def validate_durability(options: QueueOptions) -> None:
    """DURABILITY, MIN_REPLICAS and REPLICATION_TIMEOUT, or ImproperlyConfigured."""
    if options.durability not in DURABILITIES:
        raise ImproperlyConfigured(
            f"OPTIONS DURABILITY must be one of {', '.join(DURABILITIES)}, "
            f"not {options.durability!r}"
        )
    replicas = options.min_replicas
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ImproperlyConfigured("OPTIONS MIN_REPLICAS must be an integer >= 1")
    timeout = options.replication_timeout
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0.001 <= timeout <= MAX_REPLICATION_TIMEOUT
    ):
        raise ImproperlyConfigured(
            "OPTIONS REPLICATION_TIMEOUT must be a number of seconds from 0.001 "
            f"to {MAX_REPLICATION_TIMEOUT:g}"
        )
