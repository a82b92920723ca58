"""runworker: parse and validate options, build a WorkerConfig, run the Worker."""

from __future__ import annotations

import gc
import os
import re
from argparse import ArgumentTypeError
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from taskqueue import logformat, metrics
from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS
from taskqueue.connection import mask_url
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.management.commands._common import (
    Options,
    TaskqueueCommand,
    finite_seconds,
    positive_int,
)
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.main import Worker

NAME_RE = re.compile(r"[A-Za-z0-9._@:-]{1,64}")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def port_number(raw: str) -> int:
    value = positive_int(raw)
    if value > 65535:
        raise ArgumentTypeError(f"{raw!r} is not a TCP port")
    return value


def worker_name(raw: str) -> str:
    if not NAME_RE.fullmatch(raw):
        raise ArgumentTypeError("use 1-64 letters, digits or . _ @ : -")
    return raw


def _nothing() -> None:
    """No clean-up to do."""


# runworker's options in --help order: (flags, argparse keywords).
OPTIONS: Options = (
    (("--queue", "-Q"), {
        "action": "append", "dest": "queues",
        "help": "queue to consume (repeatable; default: all of the backend's queues)",
    }),
    (("--concurrency", "-c"), {
        "type": positive_int, "default": None,
        "help": "consumers (default: CPU count for prefork, else 1)",
    }),
    (("--pool",), {
        "choices": ("prefork", "threads", "solo"), "default": "prefork",
        "help": "prefork (default): a supervisor and N child processes; threads: N "
        "threads; solo: one task at a time in this process (for debugging)",
    }),
    (("--burst",), {"action": "store_true", "help": "exit 0 once the queues are empty"}),
    (("--max-tasks-per-child",), {
        "type": positive_int, "default": None,
        "help": "replace a consumer after this many tasks",
    }),
    (("--max-memory-per-child",), {
        "type": positive_int, "default": None,
        "help": "replace a consumer once its peak RSS passes this many KiB",
    }),
    (("--loglevel", "-l"), {
        "type": str.upper, "choices": LEVELS, "default": "INFO",
        "help": "log level (default INFO)",
    }),
    (("--async-concurrency",), {
        "type": positive_int, "default": 10,
        "help": "async tasks run together on one event loop, up to this many",
    }),
    (("--log-format",), {
        "choices": ("text", "json"), "default": "text",
        "help": "text (default) or json: one JSON object per line, for log shippers",
    }),
    (("--metrics-port",), {
        "type": port_number, "default": None,
        "help": "serve Prometheus metrics on this port (see --metrics-host)",
    }),
    (("--metrics-host",), {
        "default": "127.0.0.1",
        "help": "address for --metrics-port (default 127.0.0.1; 0.0.0.0 for all "
        "interfaces: the page has no authentication)",
    }),
    (("--name", "-n"), {
        "type": worker_name, "default": None,
        "help": "worker name in queuestats and workerhealth (default: host.pid)",
    }),
    (("--backend",), {
        "default": DEFAULT_TASK_BACKEND_ALIAS, "help": "TASKS alias (default: default)",
    }),
    (("--grace",), {
        "type": finite_seconds, "default": None,
        "help": "seconds running tasks get to finish on SIGTERM",
    }),
)  # fmt: skip


class Command(TaskqueueCommand):
    help = "Run a taskqueue worker: claim tasks from Redis, run them, record results."
    options = OPTIONS

    def handle(self, *args: Any, **options: Any) -> None:
        logformat.configure(options["log_format"], options["loglevel"])
        worker = self._worker(options)
        clean_up: Callable[[], None] = _nothing
        if options["metrics_port"] is not None:
            clean_up = self._serve_metrics(
                options["metrics_host"], options["metrics_port"], worker
            )
        try:
            code = worker.run()
        except BrokerUnavailable as exc:
            raise CommandError(
                f"cannot reach Redis at {mask_url(worker.options.redis_url)}: {exc}"
            ) from None
        except ImproperlyConfigured as exc:  # a bad schedule (taskqueue/schedules.py)
            raise CommandError(str(exc)) from None
        finally:
            clean_up()
            # The process exits next: exempt the heap from the interpreter's
            # final collections, which took ~0.2 s of a stop that should take
            # well under 0.5 s (measured; supervisors wait for it).
            gc.freeze()
        if code:
            raise CommandError("worker stopped with errors", returncode=code)

    def _serve_metrics(
        self, host: str, port: int, worker: Worker
    ) -> Callable[[], None]:
        """Start the metrics server; return what to clean up when the worker exits.

        Prefork children count in their own memory, so the supervisor puts
        them in prometheus_client's multiprocess mode before it forks.
        """
        from taskqueue.web import metrics as served  # only a worker that serves

        clean_up = _nothing
        if worker.config.pool == "prefork":
            clean_up = metrics.use_multiprocess_dir()
        try:
            served.start_http_server(port, host, backend=worker.config.backend)
        except OSError as exc:
            clean_up()
            raise CommandError(
                f"cannot serve metrics on {host}:{port}: {exc}"
            ) from None
        return clean_up

    def _worker(self, options: dict[str, Any]) -> Worker:
        from taskqueue.backends import backend_for

        backend = backend_for(options["backend"])  # InvalidBackend: a CommandError
        queues = tuple(dict.fromkeys(options["queues"] or backend.queue_names))
        unknown = [q for q in queues if backend.queues and q not in backend.queues]
        if unknown:
            raise CommandError(
                f"unknown queue(s) {', '.join(unknown)}; configured: {', '.join(backend.queue_names)}"
            )
        pool = options["pool"]
        concurrency = options["concurrency"] or (
            (os.cpu_count() or 1) if pool == "prefork" else 1
        )
        config = WorkerConfig(
            queues=queues, name=options["name"] or "", burst=options["burst"], pool=pool,
            concurrency=1 if pool == "solo" else concurrency,
            max_tasks_per_child=options["max_tasks_per_child"],
            max_memory_per_child=options["max_memory_per_child"],
            async_concurrency=options["async_concurrency"], backend=options["backend"],
            grace=backend.config.shutdown_grace if options["grace"] is None else options["grace"],
            max_batch=backend.config.max_batch,
        )  # fmt: skip
        return Worker(config)
