"""The allow-list of runnable tasks: Task objects found in installed apps.

A message may only name a task found here. Names from messages are looked
up in a dict, never imported. Discovery imports ``<app>.tasks`` for every
installed app (and any extra OPTIONS["TASK_MODULES"]), once per process.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Iterable
from typing import Any

from django.apps import apps

from taskqueue.compat import Task

_lock = threading.Lock()
_tasks: dict[str, Any] | None = None


def _is_task(value: object) -> bool:
    return isinstance(value, Task) or (
        type(value).__name__ == "Task" and hasattr(value, "module_path")
    )


def _module_tasks(module_name: str) -> dict[str, Any]:
    if importlib.util.find_spec(module_name) is None:
        return {}
    module = importlib.import_module(module_name)
    found = {}
    for value in vars(module).values():
        if _is_task(value) and value.func.__module__ == module.__name__:
            found[value.module_path] = value
    return found


def discover(extra_modules: Iterable[str] = ()) -> dict[str, Any]:
    """Every task of installed apps' ``tasks`` modules and the extra modules."""
    found: dict[str, Any] = {}
    names = [f"{config.name}.tasks" for config in apps.get_app_configs()]
    for module_name in [*names, *extra_modules]:
        try:
            found.update(_module_tasks(module_name))
        except ModuleNotFoundError as exc:
            if exc.name != module_name.rpartition(".")[0]:
                raise
    return found


def tasks(extra_modules: Iterable[str] = ()) -> dict[str, Any]:
    """The cached registry (discovered once per process)."""
    global _tasks
    if _tasks is None:
        with _lock:
            if _tasks is None:
                _tasks = discover(extra_modules)
    return _tasks


def register(task: Any) -> None:
    """Add a task seen at enqueue time (so get_result in this process knows it)."""
    tasks()[task.module_path] = task


def reset() -> None:
    global _tasks
    _tasks = None
