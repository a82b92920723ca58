"""Django's task signals, without per-task waste.

Building a TaskResult and dispatching a signal costs more than running a
no-op task. A signal needs sending if any receiver other than Django's own
logging receivers is connected, or if those receivers' logger would write
at that moment. The receivers are looked at again whenever they change
(a test or a late import connects one); the log level is read each time.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from django.dispatch import Signal

from taskqueue.compat import TaskResult

BUILTIN_RECEIVER_MODULES = {
    "django_tasks.signals": "django_tasks",
    "django.tasks.signals": "django.tasks",
}
_FIELDS = tuple(f.name for f in dataclasses.fields(TaskResult))


class SignalGate:
    """Whether one signal, from one sender, at one log level, is worth sending."""

    __slots__ = ("_custom", "_key", "_loggers", "level", "sender", "signal")

    def __init__(self, signal: Signal, sender: type, level: int) -> None:
        self.signal, self.sender, self.level = signal, sender, level
        self._key: tuple[int, ...] | None = None
        self._custom = True
        self._loggers: list[logging.Logger] = []

    def wanted(self) -> bool:
        key = tuple(map(id, self.signal.receivers))
        if key != self._key:
            self._key = key
            self._look_at_receivers()
        return self._custom or any(
            logger.isEnabledFor(self.level) for logger in self._loggers
        )

    def _look_at_receivers(self) -> None:
        try:
            sync_receivers, async_receivers = self.signal._live_receivers(self.sender)
        except (AttributeError, TypeError, ValueError):  # no Django 5.0+ API
            self._custom, self._loggers = True, []
            return
        names = [
            BUILTIN_RECEIVER_MODULES.get(getattr(receiver, "__module__", ""))
            for receiver in [*sync_receivers, *async_receivers]
        ]
        self._custom = None in names
        self._loggers = [logging.getLogger(name) for name in names if name]


def task_result(**values: Any) -> TaskResult[Any]:
    """A TaskResult for JSON-decoded args, skipping the re-normalisation Django does.

    Arguments decoded from JSON are already lists, dicts and scalars, which is
    exactly what TaskResult.__post_init__ would produce.
    """
    result: TaskResult[Any] = object.__new__(TaskResult)
    for name in _FIELDS:
        object.__setattr__(result, name, values.get(name))
    return result
