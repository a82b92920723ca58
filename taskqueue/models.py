"""Database models of taskqueue: the exactly-once ledger and the API tokens."""

from __future__ import annotations

from django.db import models


class TaskRecord(models.Model):
    """One row per task id whose effect is committed (see idempotency.once_per_task)."""

    task_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "completed task record"

    def __str__(self) -> str:
        return self.task_id


from taskqueue.tokens import APIToken  # noqa: E402, F401
