"""schedules [list] [--json] | pause NAME | resume NAME | run NAME: operate periodic tasks."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from taskqueue import schedule_status
from taskqueue.backends import RedisBackend, backend_for
from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS
from taskqueue.firing import fire_now
from taskqueue.management.commands._common import TaskqueueCommand, broker_errors
from taskqueue.schedules import queue_of

ACTIONS = {
    "list": "every schedule: task, rule, time zone, next run, last run, paused",
    "pause": "stop firing NAME (every worker sees it at its next tick)",
    "resume": "fire NAME again from its next tick",
    "run": "fire one extra run of NAME now",
}


class Command(TaskqueueCommand):
    help = "List the periodic tasks (schedules), pause, resume or run one now."

    options = (
        (("action",), {
            "nargs": "?", "default": "list", "choices": list(ACTIONS),
            "help": "; ".join(f"{a}: {what}" for a, what in ACTIONS.items()),
        }),
        (("name",), {"nargs": "?", "help": "The schedule (pause, resume, run)."}),
        (("--json",), {"action": "store_true", "help": "list: JSON, one array."}),
        (("--backend",), {
            "default": DEFAULT_TASK_BACKEND_ALIAS, "help": "The TASKS alias (default: default).",
        }),
    )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        backend = backend_for(options["backend"])
        action, name = options["action"], options["name"]
        try:
            with broker_errors(backend):
                if action == "list":
                    if name is not None:
                        raise CommandError("list takes no schedule name")
                    self._list(backend, as_json=options["json"])
                elif name is None:
                    raise CommandError(
                        f"{action} needs a schedule name (see schedules list)"
                    )
                else:
                    self._act(backend, action, name)
        except (ImproperlyConfigured, schedule_status.UnknownSchedule) as exc:
            raise CommandError(str(exc).strip("'\"")) from None

    def _list(self, backend: RedisBackend, *, as_json: bool) -> None:
        rows = schedule_status.rows(backend)
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No schedules (OPTIONS SCHEDULES or @schedule).")
            return
        for row in rows:
            last = row["last_run"]
            last_text = f"{last['task_id']} {last['status']}" if last else "never"
            self.stdout.write(
                f"{row['name']}  {row['task']}  {row['rule']}  tz={row['timezone']}  "
                f"next={row['next_run']}  last={last_text}"
                f"{'  PAUSED' if row['paused'] else ''}"
            )

    def _act(self, backend: RedisBackend, action: str, name: str) -> None:
        entry = schedule_status.find(backend, name)
        schedule, task = entry
        if action == "run":
            task_id = fire_now(backend.broker, entry, alias=backend.alias)
            self.stdout.write(f"{name}: one run enqueued, task {task_id}")
            return
        backend.broker.set_schedule_paused(
            name, queue_of(schedule, task), action == "pause"
        )
        self.stdout.write(f"{name}: {'paused' if action == 'pause' else 'resumed'}")
