"""Receivers that write every task signal to a file (see tests/apps.py)."""

from __future__ import annotations

import json
from typing import Any

from taskqueue.compat import task_enqueued, task_finished, task_started

_receivers: list[Any] = []


def connect(path: str) -> None:
    for name, signal in (
        ("enqueued", task_enqueued),
        ("started", task_started),
        ("finished", task_finished),
    ):

        def receiver(
            sender: type, task_result: Any, _name: str = name, **kwargs: Any
        ) -> None:
            with open(path, "a") as handle:
                handle.write(json.dumps({
                    "signal": _name, "sender": f"{sender.__module__}.{sender.__qualname__}",
                    "id": task_result.id, "status": str(task_result.status),
                    "task": task_result.task.module_path, "attempts": task_result.attempts,
                }) + "\n")  # fmt: skip

        _receivers.append(receiver)  # keep a strong reference
        signal.connect(receiver)
