"""load_demo_recipes: fill an empty Recipe table with the demo recipes.

Refuses a table that already has rows (run twice, the demo would hold every
recipe twice) unless --force says to add them anyway.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from recipe.models import Recipe
from taskqueue.management.commands._common import TaskqueueCommand

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_recipes.json"


def read_fixture(path: Path) -> list[Recipe]:
    """Unsaved recipes from a fixture file: name, ingredients, instructions."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return [
            Recipe(
                name=entry["fields"]["name"],
                ingredients=entry["fields"]["ingredients"],
                instructions=entry["fields"]["instructions"],
            )
            for entry in entries
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"cannot read demo recipes from {path}: {exc}") from None


class Command(TaskqueueCommand):
    help = "Load ~50 demo recipes into an empty Recipe table (--force to add anyway)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="add the demo recipes even if the table already has rows",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        existing = Recipe.objects.count()
        if existing and not options["force"]:
            raise CommandError(
                f"the Recipe table already has {existing} rows; "
                "use --force to add the demo recipes anyway"
            )
        recipes = read_fixture(FIXTURE)
        with transaction.atomic():
            Recipe.objects.bulk_create(recipes)
        self.stdout.write(f"Loaded {len(recipes)} demo recipes.")
