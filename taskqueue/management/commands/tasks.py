"""tasks cancel ID...: cancel tasks that have not finished (docs/cancel.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from taskqueue.backends import backend_for
from taskqueue.cancellation import cancel
from taskqueue.compat import TaskResultDoesNotExist
from taskqueue.management.commands._common import TaskqueueCommand, broker_errors
from taskqueue.protocol import ID_RE

ACTIONS = {"cancel": "cancel tasks by id (never started, or asked to stop)"}


class Command(TaskqueueCommand):
    help = (
        "Cancel tasks that have not finished: a waiting task never starts, a "
        "running one is asked to stop (--terminate: its prefork child is "
        "replaced). Its result is FAILED with TaskCancelled."
    )

    options = (
        (("action",), {
            "nargs": "?", "choices": list(ACTIONS),
            "help": "; ".join(f"{a}: {what}" for a, what in ACTIONS.items()),
        }),
        (("ids",), {"nargs": "*", "help": "Task ids."}),
        (("--terminate",), {
            "action": "store_true",
            "help": "Stop the prefork child running a task instead of asking it.",
        }),
    )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[str] = options["ids"]
        if options["action"] is None or not ids:
            raise CommandError("give an action and task ids: tasks cancel ID [ID ...]")
        bad = [i for i in ids if not ID_RE.fullmatch(i)]
        if bad:
            raise CommandError(f"Not task ids: {', '.join(map(repr, bad[:10]))}")
        backend = backend_for()
        unknown, finished = [], []
        with broker_errors(backend):
            for task_id in dict.fromkeys(ids):
                try:
                    done = cancel(task_id, terminate=options["terminate"])
                except TaskResultDoesNotExist:
                    unknown.append(task_id)
                    continue
                if done:
                    self.stdout.write(f"Cancelled {task_id}")
                else:
                    finished.append(task_id)
        _report(unknown, finished)


def _report(unknown: list[str], finished: list[str]) -> None:
    """One CommandError naming the ids that could not be cancelled, if any."""
    problems = []
    if unknown:
        problems.append(f"unknown task ids: {', '.join(unknown)}")
    if finished:
        problems.append(f"already finished: {', '.join(finished)}")
    if problems:
        raise CommandError("Not cancelled: " + "; ".join(problems))
