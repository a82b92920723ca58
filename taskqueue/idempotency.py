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

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from taskqueue.models import TaskRecord

# Backends that take INSERT ... ON CONFLICT DO NOTHING: the insert reports
# whether the row is new without raising, so no savepoint is needed.
ON_CONFLICT_VENDORS = ("sqlite", "postgresql")


@contextmanager
def once_per_task(task_id: str, using: str | None = None) -> Iterator[bool]:
    """Yield True and commit with the body if this id is new; yield False if done.

    Usage::

        with once_per_task(context.task_result.id) as first:
            if first:
                ...  # the effect, inside the same transaction
    """
    alias = using or router.db_for_write(TaskRecord)
    with transaction.atomic(using=alias):
        yield _record(task_id, alias)


def _record(task_id: str, alias: str) -> bool:
    """Insert the id's row in the open transaction; False if it was there already.

    One plain INSERT where the database can skip a duplicate by itself (this
    is most of what the exactly-once record costs a quick task); elsewhere a
    savepoint around a create, so the IntegrityError does not spoil the
    transaction.
    """
    connection = connections[alias]
    if connection.vendor not in ON_CONFLICT_VENDORS:
        try:
            with transaction.atomic(using=alias):
                TaskRecord.objects.using(alias).create(task_id=task_id)
        except IntegrityError:
            return False
        return True
    quote = connection.ops.quote_name
    # Identifiers come from the model, quoted; the values are parameters.
    sql = (
        f"INSERT INTO {quote(TaskRecord._meta.db_table)} "  # noqa: S608
        f"({quote('task_id')}, {quote('created_at')}) VALUES (%s, %s) "
        f"ON CONFLICT ({quote('task_id')}) DO NOTHING"
    )
    created = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [task_id, created])
        return bool(cursor.rowcount == 1)
