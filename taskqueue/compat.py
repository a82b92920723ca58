"""The one place that chooses Django's Tasks API: built-in (6.x) or the backport.

mypy runs on the Django 5.2 leg, so it reads the backport's types; at run
time Django >= 6.0 uses its own ``django.tasks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import django

if TYPE_CHECKING or django.VERSION < (6, 0):
    import django_tasks as tasks_api
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskError
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
else:  # Django >= 6.0
    from django import tasks as tasks_api
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started

DEFAULT_TASK_BACKEND_ALIAS = tasks_api.DEFAULT_TASK_BACKEND_ALIAS
DEFAULT_TASK_QUEUE_NAME = tasks_api.DEFAULT_TASK_QUEUE_NAME
TaskContext = tasks_api.TaskContext
TaskResult = tasks_api.TaskResult
TaskResultStatus = tasks_api.TaskResultStatus
default_task_backend = tasks_api.default_task_backend
task = tasks_api.task
task_backends = tasks_api.task_backends

__all__ = [
    "DEFAULT_TASK_BACKEND_ALIAS",
    "DEFAULT_TASK_QUEUE_NAME",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "default_task_backend",
    "task",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
