"""deadletters list|requeue|purge: look at and clear the dead-letter lists."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import UTC, datetime
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError

from taskqueue.management.commands._common import broker_errors, default_backend


class Command(BaseCommand):
    help = (
        "List dead letters, requeue them (delivery count reset) or purge them. "
        "requeue and purge take dead-letter ids or --all."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["list", "requeue", "purge"])
        parser.add_argument("ids", nargs="*", help="Dead-letter ids (see list).")
        parser.add_argument("--queue", help="Only this queue (default: every queue).")
        parser.add_argument("--all", action="store_true", help="Every dead letter.")
        parser.add_argument("--limit", type=int, default=100, help="list: at most N.")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = default_backend()
        queues = self._queues(backend, options["queue"])
        with broker_errors(backend):
            if options["action"] == "list":
                self._list(backend, queues, options["limit"])
            else:
                self._act(backend, queues, options)

    def _queues(self, backend: Any, queue: str | None) -> list[str]:
        if queue is None:
            return list(backend.queue_names)
        if queue not in backend.queue_names:
            known = ", ".join(backend.queue_names)
            raise CommandError(f"Unknown queue {queue!r} (configured: {known})")
        return [queue]

    def _list(self, backend: Any, queues: list[str], limit: int) -> None:
        count = 0
        for queue in queues:
            for dead_id, entry, _raw in backend.broker.dead_letters(queue, limit):
                info = orjson.loads(entry)
                at = datetime.fromtimestamp(float(info.get("at") or 0), tz=UTC)
                preview = str(info.get("preview", ""))[:60].replace("\n", " ")
                self.stdout.write(
                    f"{dead_id}  {queue}  {at:%Y-%m-%d %H:%M:%S}  {info.get('reason')}"
                    f"  {preview}"
                )
                count += 1
        self.stdout.write(f"{count} dead letter(s)")

    def _act(self, backend: Any, queues: list[str], options: dict[str, Any]) -> None:
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
