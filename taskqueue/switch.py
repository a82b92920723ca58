"""CachedSwitch: an "is it set up?" answer worked out once per process.

Asked on hot paths (every enqueue, every task run) where the probe itself
(a client lookup, an isinstance check) would cost more than a task that
uses nothing; ``refresh()`` works it out again, after a late set-up.
"""

from __future__ import annotations

from collections.abc import Callable


class CachedSwitch:
    __slots__ = ("_probe", "_value")

    def __init__(self, probe: Callable[[], bool]) -> None:
        self._probe = probe
        self._value: bool | None = None

    def __call__(self) -> bool:
        value = self._value
        return self.refresh() if value is None else value

    def refresh(self) -> bool:
        self._value = value = bool(self._probe())
        return value
