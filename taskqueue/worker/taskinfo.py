"""TaskInfo: what the executor learns about a task once, not per message.

Per task: its signature, retry policy and signal sender, plus a cache of
argument "shapes" (how many positional args, which keywords) mapped to the
binding error or the type checks that shape needs, so that checking a
message's arguments costs a dict lookup and a few isinstance calls.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from taskqueue.conf import QueueOptions
from taskqueue.policy import TaskPolicy, policy_for

SIMPLE_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,), float: (int, float), str: (str,), bool: (bool,),
    list: (list,), dict: (dict,),
}  # fmt: skip
SIMPLE_TYPES.update(
    {kind.__name__: types for kind, types in list(SIMPLE_TYPES.items())}
)
MAX_SHAPES = 64
Check = tuple[int | str, str, tuple[type, ...]]


@dataclass(slots=True)
class TaskInfo:
    task: Any
    signature: inspect.Signature
    policy: TaskPolicy
    sender: type
    takes_context: bool
    is_async: bool
    shapes: dict[tuple[int, tuple[str, ...]], str | list[Check]] = field(
        default_factory=dict
    )

    @classmethod
    def of(cls, task: Any, options: QueueOptions) -> TaskInfo:
        return cls(
            task=task,
            signature=inspect.signature(task.func),
            policy=policy_for(task.func, options),
            sender=type(task.get_backend()),
            takes_context=task.takes_context,
            is_async=inspect.iscoroutinefunction(task.func),
        )

    def argument_problem(self, args: list[Any], kwargs: dict[str, Any]) -> str:
        """Why these arguments cannot call the task ('' when they can)."""
        key = (len(args), tuple(kwargs))
        plan = self.shapes.get(key)
        if plan is None:
            plan = self._plan(*key)
            if len(self.shapes) < MAX_SHAPES:
                self.shapes[key] = plan
        if isinstance(plan, str):
            return plan
        for where, name, expected in plan:
            value = args[where] if isinstance(where, int) else kwargs[where]
            if not isinstance(value, expected) or (
                isinstance(value, bool) and bool not in expected
            ):
                return f"{name}={value!r} is not {expected[-1].__name__}"
        return ""

    def _plan(self, positional: int, keywords: tuple[str, ...]) -> str | list[Check]:
        offset = 1 if self.takes_context else 0
        try:
            bound = self.signature.bind(
                *range(positional + offset), **dict.fromkeys(keywords)
            )
        except TypeError as exc:
            return str(exc)
        checks: list[Check] = []
        for name, value in bound.arguments.items():
            parameter = self.signature.parameters[name]
            expected = SIMPLE_TYPES.get(parameter.annotation)
            if expected is None or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            if name in keywords:
                checks.append((name, name, expected))
            elif isinstance(value, int) and value >= offset:
                checks.append((value - offset, name, expected))
        return checks
