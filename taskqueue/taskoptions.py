"""Per-task control options: unique tasks, rate limits, concurrency caps.

They come from two places, validated by the same table of rules:

- ``taskqueue.policy.options(unique_for=..., rate_limit=..., ...)`` on the
  task function (checked when the decorator runs, at import);
- ``TASKS[alias]["OPTIONS"]["TASK_OPTIONS"] = {"app.tasks.fn": {...}}``,
  which overrides the decorator key by key, so that an operator can limit a
  task they cannot edit (checked when the backend is built, at start-up).

``RULES`` is the one table: a key is valid when its rule's check passes; a
new option is a new row. Values from settings first go through the rule's
``from_setting`` (a dotted path becomes the callable it names: settings are
code the operator wrote, never a message).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

ATTRIBUTE = "_taskqueue_task_options"
RATE_RE = re.compile(r"([1-9][0-9]{0,8})/([smh])")
PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
MAX_UNIQUE_FOR = 366 * 86400  # a year: a hold longer than that is a typo


def _same(value: Any) -> Any:
    return value


def _imported(value: Any) -> Any:
    """A dotted path from settings becomes its callable (or a clear error)."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ValueError(f"cannot import {value!r}: {exc}") from None


def _seconds(value: Any) -> bool:
    return type(value) in (int, float) and 0 < value <= MAX_UNIQUE_FOR


def _count(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 1_000_000


def _rate(value: Any) -> bool:
    return isinstance(value, str) and RATE_RE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Rule:
    """How one option key is checked, and what the error says it must be."""

    check: Callable[[Any], bool]
    must_be: str
    from_setting: Callable[[Any], Any] = _same


RULES: dict[str, Rule] = {
    "unique_for": Rule(_seconds, f"a number of seconds from 0 to {MAX_UNIQUE_FOR}"),
    "unique_key": Rule(
        callable, "a callable(args, kwargs) -> str (in settings: its dotted path)",
        _imported,
    ),
    "rate_limit": Rule(_rate, 'a string "N/s", "N/m" or "N/h" with N >= 1'),
    "concurrency": Rule(_count, "a whole number from 1 to 1000000"),
}  # fmt: skip


def checked(
    task: str, values: Mapping[str, Any], *, settings: bool = False
) -> dict[str, Any]:
    """The options, validated; ImproperlyConfigured naming the task and the key."""
    if not isinstance(values, Mapping):
        raise ImproperlyConfigured(f"TASK_OPTIONS[{task!r}] must be a dict")
    out: dict[str, Any] = {}
    for key, value in values.items():
        rule = RULES.get(key)
        if rule is None:
            known = ", ".join(RULES)
            raise ImproperlyConfigured(
                f"task {task}: unknown option {key!r} (known: {known})"
            )
        try:
            value = rule.from_setting(value) if settings else value
        except ValueError as exc:
            raise ImproperlyConfigured(f"task {task}: option {key!r}: {exc}") from None
        if not rule.check(value):
            raise ImproperlyConfigured(
                f"task {task}: option {key!r} must be {rule.must_be}, not {value!r}"
            )
        out[key] = value
    if not settings and "unique_key" in out and "unique_for" not in out:
        raise ImproperlyConfigured(
            f"task {task}: option 'unique_key' needs 'unique_for'"
        )
    return out


def from_settings(value: Any) -> dict[str, dict[str, Any]]:
    """``OPTIONS["TASK_OPTIONS"]`` validated: task path -> its checked options."""
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured("OPTIONS TASK_OPTIONS must be a dict of task paths")
    table = {}
    for task, values in value.items():
        if not isinstance(task, str) or "." not in task:
            raise ImproperlyConfigured(
                f"TASK_OPTIONS key {task!r} must be a task's dotted path"
            )
        table[task] = checked(task, values, settings=True)
    return table


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """What a task's options come to, once per task (None when it has none)."""

    path: str
    unique_for: float | None = None
    unique_key: Callable[[list[Any], dict[str, Any]], str] | None = None
    interval: float = 0.0  # seconds between starts (rate limit); 0: none
    concurrency: int = 0  # 0: no cap

    @property
    def gated(self) -> bool:
        """Does a worker ask before starting it (rate limit or concurrency cap)?"""
        return self.interval > 0 or self.concurrency > 0


def interval(rate: str) -> float:
    """Seconds between starts of a ``"N/s|m|h"`` rate (checked already)."""
    match = RATE_RE.fullmatch(rate)
    assert match is not None  # noqa: S101 (checked by RULES before)
    return PERIODS[match.group(2)] / int(match.group(1))


def limits_for(
    path: str, func: Callable[..., Any], table: Mapping[str, Mapping[str, Any]]
) -> TaskLimits | None:
    """The task's options: the decorator's, overridden key by key by settings."""
    values = {**getattr(func, ATTRIBUTE, {}), **table.get(path, {})}
    if not values:
        return None
    rate = values.get("rate_limit")
    return TaskLimits(
        path=path,
        unique_for=values.get("unique_for"),
        unique_key=values.get("unique_key"),
        interval=interval(rate) if rate else 0.0,
        concurrency=values.get("concurrency", 0),
    )
