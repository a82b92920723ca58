"""Shared pieces of the benchmark's task bodies: the ORM work and the markers.

The ORM work is the body of recipe.tasks.process_recipe without taskqueue's
exactly-once record: get the recipe, compute its derived fields, add 1 to
processed_count in one transaction. Raw loops and peers all run this.
"""

from __future__ import annotations

import os
import time

import redis

REDIS_URL = os.environ["REDIS_URL"]
START_KEY = "bench:start"
DONE_KEY = "bench:done"
LATENCY_KEY = "bench:lat"
_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(REDIS_URL)
    return _client


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_settings")
    import django

    django.setup()


def orm_work(recipe_id: int) -> None:
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from recipe.models import Recipe
    from recipe.processing import derived_fields

    with transaction.atomic():
        recipe = Recipe.objects.get(id=recipe_id)
        fields = derived_fields(recipe.name, recipe.ingredients, recipe.instructions)
        Recipe.objects.filter(id=recipe_id).update(
            **fields,
            processed_count=F("processed_count") + 1,
            processed_at=timezone.now(),
        )


def mark_start() -> None:
    """The first task queued: the timed window opens when it runs."""
    client().set(START_KEY, time.time(), nx=True)


def mark_done() -> None:
    """The sentinel task, queued after the workload: the run is over when it runs."""
    client().set(DONE_KEY, time.time())


def stamp(enqueued_at: float) -> None:
    """Record enqueue -> start latency (seconds) measured inside the worker."""
    client().rpush(LATENCY_KEY, time.time() - enqueued_at)
