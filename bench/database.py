"""The benchmark's own SQLite database (WAL) with 1,000 recipes.

Migrated with the tests settings (recipe, taskqueue's exactly-once table and
the tests app), then used in this process through the same Django setup.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.contenders import ROOT

RECIPES = 1000


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=True, timeout=300,
    )  # fmt: skip


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()


def seed() -> None:
    from recipe.models import Recipe

    Recipe.objects.all().delete()
    Recipe.objects.bulk_create(
        Recipe(
            id=i,
            name=f"Bench recipe {i}",
            ingredients="\n".join(
                f"{j + 1} cups ingredient {j}" for j in range(i % 12 + 1)
            ),
            instructions=f"Mix everything. Bake for {i % 50 + 10} minutes. Rest 1 hour.",
        )
        for i in range(1, RECIPES + 1)
    )


def reset() -> None:
    from django.db import connection

    from recipe.models import Recipe
    from taskqueue.models import TaskRecord

    Recipe.objects.update(processed_count=0, processed_at=None)
    TaskRecord.objects.all().delete()
    connection.close()


def processed_sum() -> int:
    from django.db import connection
    from django.db.models import Sum

    from recipe.models import Recipe

    total = Recipe.objects.aggregate(total=Sum("processed_count"))["total"] or 0
    connection.close()
    return int(total)
