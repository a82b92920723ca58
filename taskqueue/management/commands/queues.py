"""queues pause|resume NAME...: stop claiming from queues, and start again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from taskqueue.backends import backend_for
from taskqueue.management.commands._common import TaskqueueCommand, broker_errors

ACTIONS = {
    "pause": "workers stop claiming from the queue (enqueues still go in)",
    "resume": "workers claim from the queue again",
}


class Command(TaskqueueCommand):
    help = (
        "Pause or resume queues. A paused queue still accepts tasks; workers "
        "stop claiming from it within a second and finish what they run."
    )

    options = (
        (("action",), {
            "nargs": "?", "choices": list(ACTIONS),
            "help": "; ".join(f"{a}: {what}" for a, what in ACTIONS.items()),
        }),
        (("names",), {"nargs": "*", "help": "Queue names (as in TASKS QUEUES)."}),
    )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["names"]
        if options["action"] is None or not names:
            raise CommandError(
                "give an action and queue names: queues pause|resume NAME"
            )
        backend = backend_for()
        unknown = [n for n in names if n not in backend.queue_names]
        if unknown:
            known = ", ".join(backend.queue_names)
            raise CommandError(
                f"Unknown queue {', '.join(map(repr, unknown))} (configured: {known})"
            )
        pause = options["action"] == "pause"
        with broker_errors(backend):
            for name in dict.fromkeys(names):
                changed = backend.broker.set_paused(name, pause)
                state = "Paused" if pause else "Resumed"
                note = (
                    ""
                    if changed
                    else f" (it was already {'paused' if pause else 'running'})"
                )
                self.stdout.write(f"{state} queue {name}{note}")
