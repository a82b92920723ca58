"""queuestats: what GET /api/queues/ shows, as a table or as JSON (--json)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

import orjson

from taskqueue.backends import backend_for
from taskqueue.management.commands._common import TaskqueueCommand, broker_errors
from taskqueue.web.overview import queue_overview

COLUMNS = ("name", "pending", "in_flight", "scheduled", "dead")


class Command(TaskqueueCommand):
    help = "Show pending, in-flight, scheduled and dead counts per queue, and workers."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = backend_for()
        with broker_errors(backend):
            data = queue_overview(backend)
        if options["json"]:
            self.stdout.write(orjson.dumps(data).decode())
            return
        self.stdout.write("{:<20} {:>9} {:>9} {:>9} {:>9}".format(*COLUMNS))
        for queue in data["queues"]:
            line = "{:<20} {:>9} {:>9} {:>9} {:>9}".format(*(queue[c] for c in COLUMNS))
            self.stdout.write(line + ("  paused" if queue.get("paused") else ""))
        self.stdout.write(f"{len(data['workers'])} live worker(s)")
        for worker in data["workers"]:
            self.stdout.write(f"  {worker_line(worker)}")


def worker_line(worker: dict[str, Any]) -> str:
    """One worker of the API's list as text; unreadable fields say so."""
    if "entry" in worker.get("unreadable", ()):
        return f"{worker['name']} (unreadable entry)"
    current = ", ".join(worker.get("current") or []) or "idle"
    line = (
        f"{worker['name']} host={worker.get('host')} pid={worker.get('pid')} "
        f"processed={worker.get('processed')} current={current}"
    )
    if worker.get("unreadable"):
        line += f" (unreadable: {', '.join(worker['unreadable'])})"
    return line
