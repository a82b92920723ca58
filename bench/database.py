"""The benchmark's own SQLite database (WAL) with 1,000 recipes.

Migrated with the tests settings (recipe, taskqueue's exactly-once table and
the tests app), then used in this process through the same Django setup.
django-tasks-db's table (its queue) is migrated into the same file by Django 6
from .venv-bench6: only that app's migrations, recorded in the shared
django_migrations table, which Django 5.2 ignores for apps it does not know.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.contenders import ROOT

RECIPES = 1000
PEER_TABLES = ("django_tasks_database_dbtaskresult",)  # emptied by reset() when present


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=True, timeout=300,
    )  # fmt: skip


def migrate_django6(env: dict[str, str], python: Path) -> str:
    """Migrate django_tasks_db with Django 6; "" on success, else the reason."""
    env6 = {**env, "DJANGO_SETTINGS_MODULE": "bench.django6_settings",
            "BENCH_TASKS_BACKEND": "db"}  # fmt: skip
    proc = subprocess.run(
        [str(python), "-m", "django", "migrate", "django_tasks_database", "--noinput",
         "-v", "0"],
        cwd=ROOT, env=env6, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if proc.returncode == 0:
        return ""
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return f"django_tasks_db migrations failed: {last[:200]}"


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
    present = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in (t for t in PEER_TABLES if t in present):
            quoted = connection.ops.quote_name(table)  # a constant from PEER_TABLES
            cursor.execute(f"DELETE FROM {quoted}")  # noqa: S608
    connection.close()


def processed_sum() -> int:
    from django.db import connection
    from django.db.models import Sum

    from recipe.models import Recipe

    total = Recipe.objects.aggregate(total=Sum("processed_count"))["total"] or 0
    connection.close()
    return int(total)
