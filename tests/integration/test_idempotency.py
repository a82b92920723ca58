"""once_per_task against the real database (SQLite here, PostgreSQL in CI's PG legs)."""

from __future__ import annotations

import pytest
from django.db import transaction

from recipe.models import Recipe
from taskqueue.idempotency import once_per_task
from taskqueue.models import TaskRecord

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def count_once(task_id: str, recipe: Recipe) -> bool:
    with once_per_task(task_id) as first:
        if first:
            Recipe.objects.filter(pk=recipe.pk).update(
                processed_count=1 + recipe.processed_count
            )
        return first


def make_recipe() -> Recipe:
    return Recipe.objects.create(name="Soup", ingredients="water", instructions="Boil.")


def test_the_body_runs_for_a_new_id_only():
    recipe = make_recipe()

    assert count_once("task-1", recipe) is True
    assert count_once("task-1", recipe) is False
    assert count_once("task-2", recipe) is True

    assert sorted(TaskRecord.objects.values_list("task_id", flat=True)) == [
        "task-1",
        "task-2",
    ]
    assert TaskRecord.objects.get(task_id="task-1").created_at is not None


def test_a_failing_body_leaves_no_record_so_the_retry_runs_it():
    recipe = make_recipe()

    def fail_inside() -> None:
        with once_per_task("task-3") as first:
            assert first
            Recipe.objects.filter(pk=recipe.pk).update(processed_count=5)
            raise Boom

    with pytest.raises(Boom):
        fail_inside()

    recipe.refresh_from_db()
    assert recipe.processed_count == 0
    assert not TaskRecord.objects.filter(task_id="task-3").exists()
    assert count_once("task-3", recipe) is True


def test_a_duplicate_inside_an_outer_transaction_does_not_spoil_it():
    recipe = make_recipe()
    count_once("task-4", recipe)

    with transaction.atomic():
        assert count_once("task-4", recipe) is False
        Recipe.objects.filter(pk=recipe.pk).update(name="Still writable")

    recipe.refresh_from_db()
    assert recipe.name == "Still writable"
