"""RedisTask: Django's Task, plus the options Django's proposals add to it.

``RedisBackend.task_class``, so ``@task`` makes one for a taskqueue backend:

- ``using(metadata={...})`` (django/new-features#141): the task's metadata,
  checked here (a dict of JSON, within the limits of taskqueue/metadata.py);
- ``enqueue_on_commit()`` / ``aenqueue_on_commit()`` (#161): enqueue once
  the current transaction commits (see docs/django-options.md for how this
  relates to the backend's ``ENQUEUE_ON_COMMIT``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import transaction

from taskqueue import metadata as task_metadata
from taskqueue.compat import Task

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisTask(Task):  # type: ignore[type-arg]  # (not generic on Django 6)
    """A Task with #141's ``metadata``; everything else is Django's."""

    metadata: dict[str, Any] | None = None

    def using(self, *, metadata: dict[str, Any] | None = None, **changes: Any) -> Any:
        """Django's ``using()``, plus ``metadata`` (TypeError/ValueError if bad)."""
        task = Task.using(self, **changes)  # (slots: no zero-argument super())
        if metadata is None:
            return task
        task_metadata.encode(metadata)
        return replace(task, metadata=copy.deepcopy(metadata))

    def enqueue_on_commit(
        self, *args: Any, using: str | None = None, **kwargs: Any
    ) -> None:
        """Enqueue when the current transaction (of database ``using``) commits.

        At once outside a transaction; never if it rolls back. Returns None,
        as ``transaction.on_commit`` gives no result to return (#161).
        """
        # After the commit, enqueue() pushes at once (or, if the default
        # database is itself in a transaction, after that one commits too).
        transaction.on_commit(partial(self.enqueue, *args, **kwargs), using=using)

    async def aenqueue_on_commit(
        self, *args: Any, using: str | None = None, **kwargs: Any
    ) -> None:
        await sync_to_async(self.enqueue_on_commit)(*args, using=using, **kwargs)
