"""enqueue_recipes [--all | ID ...]: queue process_recipe for many recipes.

Ids are checked against the database first (nothing is queued if one is
unknown), then pushed in batches of one Redis round trip each, with a
progress bar when stdout is a terminal (plain text, redrawn in place; none
when piped or redirected) and a one-line summary on stdout.
"""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError

from recipe.models import Recipe
from recipe.tasks import process_recipe
from recipe.views import MAX_ID
from taskqueue.backends import backend_for, enqueue_many
from taskqueue.management.commands._common import (
    TaskqueueCommand,
    broker_errors,
    positive_int,
)

BAR_WIDTH = 30


def recipe_id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ArgumentTypeError(f"{raw!r} is not a recipe id") from None
    if not 0 < value <= MAX_ID:
        raise ArgumentTypeError(
            f"{raw!r} is not a recipe id (must be between 1 and {MAX_ID})"
        )
    return value


class Command(TaskqueueCommand):
    help = "Queue recipes for background processing (process_recipe)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "ids", nargs="*", type=recipe_id, metavar="ID", help="Recipe ids to queue."
        )
        parser.add_argument("--all", action="store_true", help="Every recipe.")
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=500,
            help="Tasks pushed per Redis round trip (default 500).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids = self._ids(options["ids"], everything=options["all"])
        backend = backend_for()
        with broker_errors(backend):
            backend.broker.ping()  # fail before the first batch, not halfway
            queued = self._enqueue(ids, options["batch_size"])
        self.stdout.write(
            f"Queued {queued} recipes for processing on queue "
            f"{process_recipe.queue_name!r}."
        )

    def _ids(self, ids: list[int], *, everything: bool) -> list[int]:
        if everything == bool(ids):
            raise CommandError("Give recipe ids or --all (not both)")
        if everything:
            return list(Recipe.objects.order_by("pk").values_list("pk", flat=True))
        ids = list(dict.fromkeys(ids))
        found = set(Recipe.objects.filter(pk__in=ids).values_list("pk", flat=True))
        unknown = [str(i) for i in ids if i not in found]
        if unknown:
            raise CommandError(
                f"Unknown recipe ids: {', '.join(unknown)} (nothing was queued)"
            )
        return ids

    def _enqueue(self, ids: list[int], batch_size: int) -> int:
        done = 0
        show = self.stdout.isatty()
        self._progress(done, len(ids), show=show)
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            enqueue_many(process_recipe, [((), {"recipe_id": pk}) for pk in batch])
            done += len(batch)
            self._progress(done, len(ids), show=show)
        if show:
            self.stdout.write("")
        return done

    def _progress(self, done: int, total: int, *, show: bool) -> None:
        """Redraw the bar in place on a terminal; nothing when output is not one.

        Written to stdout: Django styles everything sent to a terminal's
        stderr as an error (bold red), and a bar is not an error.
        """
        if not show:
            return
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stdout.write(f"\r[{bar}] {done}/{total}", ending="")
        self.stdout.flush()
