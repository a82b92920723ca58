"""once_per_task: make a task's database effect happen once per task id.

Delivery is at-least-once: a worker killed after a task's transaction
commits but before the outcome reaches Redis will see the task again. Wrap
the effect in ``once_per_task(context.task_result.id)``; it opens a
transaction, inserts a TaskRecord row for the id, and runs the body only if
that row is new. The row and the effect commit together or not at all, and
the unique constraint makes concurrent duplicates (on PostgreSQL too) wait
and then skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from taskqueue.models import TaskRecord


@contextmanager
def once_per_task(task_id: str, using: str | None = None) -> Iterator[bool]:
    """Yield True and commit with the body if this id is new; yield False if done.

    Usage::

        with once_per_task(context.task_result.id) as first:
            if first:
                ...  # the effect, inside the same transaction
    """
    with transaction.atomic(using=using):
        try:
            with transaction.atomic(using=using):
                TaskRecord.objects.using(using).create(task_id=task_id)
        except IntegrityError:
            yield False
            return
        yield True
