"""recipe.tasks.process_recipe: the demo background task."""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from recipe.models import Recipe
from recipe.processing import derived_fields
from taskqueue.compat import TaskContext, task
from taskqueue.idempotency import once_per_task

log = logging.getLogger(__name__)


@task(takes_context=True)
def process_recipe(context: TaskContext, recipe_id: int) -> dict[str, object]:
    """Fill a recipe's derived fields and count one processing, once per task id.

    Recipe.DoesNotExist propagates: the worker records it as a FAILED result
    with a warning and does not retry (the row will not come back).
    """
    with once_per_task(context.task_result.id) as first:
        recipe = Recipe.objects.select_for_update().get(id=recipe_id)
        if not first:
            log.info(
                "Recipe %s already processed by task %s",
                recipe_id,
                context.task_result.id,
            )
            return {"recipe_id": recipe_id, "duplicate": True}
        fields = derived_fields(recipe.name, recipe.ingredients, recipe.instructions)
        Recipe.objects.filter(id=recipe_id).update(
            **fields,
            processed_count=F("processed_count") + 1,
            processed_at=timezone.now(),
        )
    log.info("Task processed for %s", recipe.name)
    return {"recipe_id": recipe_id, **fields}
