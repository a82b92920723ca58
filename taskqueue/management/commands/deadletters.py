"""deadletters list|requeue|purge: look at and clear the dead-letter lists."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from taskqueue.backends import RedisBackend, backend_for
from taskqueue.management.commands._common import (
    TaskqueueCommand,
    broker_errors,
    positive_int,
)
from taskqueue.results import loads_or_none, timestamp

ACTIONS = {
    "list": "show the newest dead letters (--limit N, default 100)",
    "requeue": "put dead letters back on their queue (ids or --all)",
    "purge": "delete dead letters for good (ids or --all)",
}
USAGE = (
    "give an action: list [--limit N] | requeue IDS|--all | purge IDS|--all "
    "(see deadletters --help)"
)


class Command(TaskqueueCommand):
    help = (
        "List dead letters, requeue them (delivery count reset) or purge them. "
        "requeue and purge take dead-letter ids or --all."
    )

    options = (
        (("action",), {
            "nargs": "?", "choices": list(ACTIONS),
            "help": "; ".join(f"{a}: {what}" for a, what in ACTIONS.items()),
        }),
        (("ids",), {"nargs": "*", "help": "Dead-letter ids (see list)."}),
        (("--queue",), {"help": "Only this queue (default: every queue)."}),
        (("--all",), {"action": "store_true", "help": "Every dead letter."}),
        (("--limit",), {
            "type": positive_int, "default": 100,
            "help": "list: show at most N (newest first; default 100).",
        }),
    )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] is None:
            raise CommandError(USAGE)
        backend = backend_for()
        queues = self._queues(backend, options["queue"])
        with broker_errors(backend):
            if options["action"] == "list":
                self._list(backend, queues, options["limit"])
            else:
                self._act(backend, queues, options)

    def _queues(self, backend: RedisBackend, queue: str | None) -> list[str]:
        if queue is None:
            return list(backend.queue_names)
        if queue not in backend.queue_names:
            known = ", ".join(backend.queue_names)
            raise CommandError(f"Unknown queue {queue!r} (configured: {known})")
        return [queue]

    def _list(self, backend: RedisBackend, queues: list[str], limit: int) -> None:
        """At most ``limit`` lines over all queues, then how many there are in all."""
        shown = total = 0
        for queue in queues:
            total += backend.broker.stats(queue).dead
            room = limit - shown
            if room < 1:  # dead_letters(queue, 0) would mean "all"
                continue
            for dead_id, entry, _raw in backend.broker.dead_letters(queue, room):
                self.stdout.write(dead_letter_line(dead_id, queue, entry))
                shown += 1
        if shown < total:
            self.stdout.write(f"showing {shown} of {total} dead letter(s)")
        else:
            self.stdout.write(f"{total} dead letter(s)")

    def _act(
        self, backend: RedisBackend, queues: list[str], options: dict[str, Any]
    ) -> None:
        ids: list[str] = options["ids"]
        if bool(ids) == bool(options["all"]):
            raise CommandError(f"{options['action']} needs dead-letter ids or --all")
        by_queue = {q: set(backend.broker.dead_letter_ids(q)) for q in queues}
        unknown = [i for i in ids if not any(i in found for found in by_queue.values())]
        if unknown:
            raise CommandError(f"Unknown dead-letter ids: {', '.join(unknown)}")
        action = "requeue" if options["action"] == "requeue" else "delete"
        done = 0
        for queue, found in by_queue.items():
            chosen = sorted(found) if options["all"] else [i for i in ids if i in found]
            done += backend.broker.dead_action(queue, action, chosen)
        verb = "Requeued" if action == "requeue" else "Purged"
        self.stdout.write(f"{verb} {done} dead letter(s)")


def dead_letter_line(dead_id: str, queue: str, entry: bytes) -> str:
    """One dead letter as a line of text; an unreadable entry says so."""
    info = loads_or_none(entry)
    if not isinstance(info, dict):
        return f"{dead_id}  {queue}  (unreadable dead-letter entry)"
    at = timestamp(info.get("at"))
    when = f"{at:%Y-%m-%d %H:%M:%S}" if at else "(unknown time)"
    preview = str(info.get("preview", ""))[:60].replace("\n", " ")
    return f"{dead_id}  {queue}  {when}  {info.get('reason')}  {preview}"
