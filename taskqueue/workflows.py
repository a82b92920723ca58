"""Workflows: chains, and groups with a callback, built from ordinary tasks.

::

    from taskqueue import workflows

    flow = workflows.chain(
        workflows.step(fetch_page, url),
        workflows.step(parse_page).with_previous_result(),
        workflows.step(store, source="web").with_previous_result("parsed"),
    ).enqueue()

    batch = workflows.group(
        *(workflows.step(resize, image_id=i) for i in ids),
        then=workflows.step(notify, user_id=7),  # notify(group_id, user_id)
    ).enqueue()

Every step is a task with its own id, result, retries and dead letter. The
workflow is stored and its first steps pushed in one script
(``lua/workflow.lua``); each later step is released by the settle script of
the step before it (``lua/settle_workflow.lua``), in the same atomic step
as that outcome. A workflow lives on its queue's slot, so all its steps run
on one queue (see docs/workflows.md).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import urandom
from typing import TYPE_CHECKING, Any

import orjson
from django.db import transaction

from taskqueue import registry
from taskqueue.backends import RedisBackend
from taskqueue.compat import InvalidTask, Task, TaskResult
from taskqueue.protocol import ID_RE, Envelope, dumps_json
from taskqueue.results import reason_json

if TYPE_CHECKING:
    from taskqueue.flowstatus import WorkflowStatus

MAX_STEPS = 10_000  # steps (or members) of one workflow
STOPPED = "taskqueue.exceptions.WorkflowStopped"
CALLBACK = "cb"  # the callback's key in the workflow hash


@dataclass(frozen=True, slots=True)
class Step:
    """One call of a task in a workflow: the task (as ``using()`` made it) and its arguments.

    ``with_previous_result()`` opts in to receive the previous chain step's
    return value: as the first positional argument, or as the keyword
    argument named. Nothing is passed without it.
    """

    task: Task[Any, Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    takes_previous: bool = False
    previous_keyword: str | None = None

    def with_previous_result(self, keyword: str | None = None) -> Step:
        """This step, receiving the previous step's return value."""
        if keyword is not None and not keyword.isidentifier():
            raise ValueError(f"{keyword!r} is not a keyword argument name")
        if keyword is not None and keyword in self.kwargs:
            raise ValueError(f"{keyword!r} is already given to {self.path}")
        return replace(self, takes_previous=True, previous_keyword=keyword)

    @property
    def path(self) -> str:
        return str(getattr(self.task, "module_path", repr(self.task)))


def step(task: Task[Any, Any], /, *args: Any, **kwargs: Any) -> Step:
    """A call of ``task`` with these arguments, to put in a chain or a group."""
    return Step(task, args, kwargs)


@dataclass(frozen=True, slots=True)
class Workflow:
    """An enqueued workflow: its id, and the ids of its steps' tasks."""

    id: str
    kind: str  # chain | group
    queue: str
    backend: str
    step_ids: tuple[str, ...]
    callback_id: str | None = None

    def status(self) -> WorkflowStatus:
        """Its ``WorkflowStatus`` now (see ``taskqueue.workflow_status``)."""
        from taskqueue.flowstatus import workflow_status

        return workflow_status(self.id, backend=self.backend)

    def results(self) -> list[TaskResult[Any]]:
        """Each step's (or member's) TaskResult, in order, as stored now."""
        backend = _redis_backend(self.backend)
        return [backend.get_result(task_id) for task_id in self.step_ids]


@dataclass(frozen=True, slots=True)
class Chain:
    """Steps that run one after another; each starts when the one before succeeded."""

    steps: tuple[Step, ...]

    def enqueue(self) -> Workflow:
        if self.steps[0].takes_previous:
            raise ValueError("the first step of a chain has no previous result")
        return _Plan("chain", self.steps, None, only_if=False).enqueue()


@dataclass(frozen=True, slots=True)
class Group:
    """Members that run in parallel, then (optionally) one callback."""

    members: tuple[Step, ...]
    then: Step | None = None
    only_if_all_succeeded: bool = False

    def enqueue(self) -> Workflow:
        if any(m.takes_previous for m in self.members) or (
            self.then is not None and self.then.takes_previous
        ):
            raise ValueError("group members and callbacks have no previous result")
        return _Plan(
            "group", self.members, self.then, only_if=self.only_if_all_succeeded
        ).enqueue()


def chain(*steps: Step | Task[Any, Any]) -> Chain:
    """Run ``steps`` one after another; a failure stops the rest (recorded FAILED)."""
    return Chain(_steps(steps, "a chain"))


def group(
    *members: Step | Task[Any, Any],
    then: Step | Task[Any, Any] | None = None,
    only_if_all_succeeded: bool = False,
) -> Group:
    """Run ``members`` in parallel; when all have finished, enqueue ``then`` once.

    The callback's first positional argument is the group's id (read the
    members' results with ``group_results(group_id)``). With
    ``only_if_all_succeeded`` it runs only if every member succeeded, and
    is recorded FAILED otherwise.
    """
    callback = _steps((then,), "a group's callback")[0] if then is not None else None
    if not isinstance(only_if_all_succeeded, bool):
        raise TypeError("only_if_all_succeeded must be True or False")
    return Group(_steps(members, "a group"), callback, only_if_all_succeeded)


def group_results(group_id: str, *, backend: str = "default") -> list[TaskResult[Any]]:
    """The TaskResult of each member of a group, in the order they were given."""
    from taskqueue.flowstatus import workflow_status

    status = workflow_status(group_id, backend=backend)
    redis_backend = _redis_backend(backend)
    return [
        redis_backend.get_result(s.task_id) for s in status.steps if s.role == "member"
    ]


def _steps(items: Sequence[Any], what: str) -> tuple[Step, ...]:
    steps = tuple(item if isinstance(item, Step) else Step(item) for item in items)
    if not steps:
        raise ValueError(f"{what} needs at least one task")
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{what} has {len(steps)} tasks; at most {MAX_STEPS}")
    for item in steps:
        if not isinstance(item.task, Task):
            raise TypeError(f"{what}: {item.task!r} is not a task (use @task)")
    return steps


def _redis_backend(alias: str) -> RedisBackend:
    from taskqueue.backends import backend_for

    return backend_for(alias)


def _new_id() -> str:
    return urandom(16).hex()


@dataclass(slots=True)
class _Plan:
    """One workflow's messages and stored fields, checked before anything is sent."""

    kind: str
    steps: tuple[Step, ...]
    callback: Step | None
    only_if: bool
    id: str = field(default_factory=_new_id)

    def enqueue(self) -> Workflow:
        backend, queue = self._target()
        now = time.time()
        fields: dict[str, bytes | str | int] = {
            "kind": self.kind, "n": len(self.steps), "only": int(self.only_if),
            "created_at": repr(now),
        }  # fmt: skip
        entries: list[tuple[str, bytes]] = []
        calls: list[tuple[str, Step, tuple[Any, ...]]] = [
            (str(k), s, ()) for k, s in enumerate(self.steps, start=1)
        ]
        if self.callback is not None:
            calls.append((CALLBACK, self.callback, (self.id,)))
        for key, item, extra in calls:
            task_id = _new_id()
            message = self._message(
                backend, item, task_id=task_id, extra=extra, now=now, key=key
            )
            entries.append((task_id, message))
            fields.update({f"id:{key}": task_id, f"msg:{key}": message})
            fields[f"of:{task_id}"] = key
            if item.takes_previous:
                fields.update(_splice_fields(message, item, key))
        fields.update(self._stop_errors(entries))
        release = 1 if self.kind == "chain" else len(self.steps)
        start = _starter(
            backend, queue, workflow_id=self.id, entries=entries, release=release,
            fields=fields,
        )  # fmt: skip
        if backend.config.enqueue_on_commit:
            transaction.on_commit(start)
        else:
            start()
        ids = tuple(task_id for task_id, _ in entries[: len(self.steps)])
        callback_id = entries[-1][0] if self.callback is not None else None
        return Workflow(self.id, self.kind, queue, backend.alias, ids, callback_id)

    def _target(self) -> tuple[RedisBackend, str]:
        """The one backend and queue of every step; ValueError naming a step that differs."""
        everything = [*self.steps, *([self.callback] if self.callback else [])]
        first = everything[0].task
        backend = first.get_backend()
        if not isinstance(backend, RedisBackend):
            raise InvalidTask(
                f"workflows need a RedisBackend, not {type(backend).__name__}"
            )
        for number, item in enumerate(everything, start=1):
            task = item.task
            if task.backend != first.backend or task.queue_name != first.queue_name:
                raise ValueError(
                    f"step {number} ({item.path}) is on {task.backend}/{task.queue_name}, "
                    f"not {first.backend}/{first.queue_name}: a workflow runs on one queue"
                )
            if task.priority != 0 or task.run_after is not None:
                raise ValueError(
                    f"step {number} ({item.path}): workflow steps run at once, "
                    "at priority 0 (no priority, no run_after)"
                )
            backend.validate_task(task)
            registry.register(task)
        return backend, first.queue_name

    def _message(
        self, backend: RedisBackend, item: Step, *, task_id: str,
        extra: tuple[Any, ...], now: float, key: str,
    ) -> bytes:  # fmt: skip
        args, kwargs = [*extra, *item.args], dict(item.kwargs)
        _check_call(item, args, kwargs, key=key)
        try:
            dumps_json(args), dumps_json(kwargs)
        except TypeError as exc:
            raise TypeError(
                f"step {key} ({item.path}) arguments must be JSON: {exc}"
            ) from None
        message = Envelope(
            id=task_id, task=item.task.module_path, args=args, kwargs=kwargs,
            queue=item.task.queue_name, backend=backend.alias, enqueued_at=now,
            workflow=self.id,
        ).encode()  # fmt: skip
        if len(message) > backend.config.max_message_bytes:
            raise ValueError(
                f"step {key} ({item.path}) message of {len(message)} bytes is over "
                f"the {backend.config.max_message_bytes}-byte limit"
            )
        return message

    def _stop_errors(self, entries: list[tuple[str, bytes]]) -> dict[str, bytes]:
        """The error each step records if it never runs (settle_workflow.lua writes it)."""
        if self.kind == "chain":
            return {
                f"err:{k}": reason_json(
                    STOPPED,
                    f"chain {self.id} stopped: step {k} ({item.path}, task "
                    f"{entries[k - 1][0]}) failed",
                )
                for k, item in enumerate(self.steps[:-1], start=1)
            }
        if self.callback is None:
            return {}
        return {
            "err:cb": reason_json(
                STOPPED,
                f"group {self.id}: the callback did not run because a member "
                "failed (only_if_all_succeeded)",
            )
        }


def _check_call(
    item: Step, args: list[Any], kwargs: dict[str, Any], *, key: str
) -> None:
    """TypeError now, naming the step, for arguments the worker would refuse."""
    func = getattr(item.task, "func", None)
    if func is None:
        return
    fake_args, fake_kwargs = list(args), dict(kwargs)
    if item.takes_previous and item.previous_keyword is None:
        fake_args.insert(0, None)
    elif item.takes_previous and item.previous_keyword is not None:
        fake_kwargs[item.previous_keyword] = None
    if getattr(item.task, "takes_context", False):
        fake_args.insert(0, None)
    try:
        inspect.signature(func).bind(*fake_args, **fake_kwargs)
    except TypeError as exc:
        raise TypeError(f"step {key} ({item.path}): {exc}") from None


def _splice_fields(message: bytes, item: Step, key: str) -> dict[str, bytes | int]:
    """Where the settle script puts the previous result into this step's message.

    The encoding is ``{"v":..,"p":..,"task":T,"args":A,"kwargs":K,...}``; the
    offset is worked out from the parts, never searched for (an argument may
    hold any text), then checked by splicing ``null`` in here.
    """
    decoded = orjson.loads(message)
    head = message.index(b'"task":')
    task_json = orjson.dumps(decoded["task"])
    after_args = head + len(b'"task":') + len(task_json) + len(b',"args":[')
    if item.previous_keyword is None:
        cut, pre, sep = after_args, b"", b"," if decoded["args"] else b""
    else:
        args_json = orjson.dumps(decoded["args"])
        cut = after_args - 1 + len(args_json) + len(b',"kwargs":{')
        pre = orjson.dumps(item.previous_keyword) + b":"
        sep = b"," if decoded["kwargs"] else b""
    spliced = orjson.loads(message[:cut] + pre + b"null" + sep + message[cut:])
    expected = _with_previous(decoded, item.previous_keyword)
    if spliced != expected:  # pragma: no cover (the encoding changed)
        raise AssertionError(f"step {key}: cannot place the previous result")
    return {f"cut:{key}": cut, f"pre:{key}": pre, f"sep:{key}": sep}


def _with_previous(decoded: dict[str, Any], keyword: str | None) -> dict[str, Any]:
    if keyword is None:
        return {**decoded, "args": [None, *decoded["args"]]}
    return {**decoded, "kwargs": {keyword: None, **decoded["kwargs"]}}


def _starter(
    backend: RedisBackend, queue: str, *, workflow_id: str,
    entries: list[tuple[str, bytes]], release: int, fields: dict[str, Any],
) -> Callable[[], None]:  # fmt: skip
    def start() -> None:
        backend.broker.start_workflow(
            queue, workflow_id, entries=entries, release=release, fields=fields,
            ttl=backend.config.result_ttl,
        )  # fmt: skip

    return start


def valid_id(workflow_id: object) -> bool:
    """Whether a value could be a workflow id (checked before asking Redis)."""
    return isinstance(workflow_id, str) and ID_RE.fullmatch(workflow_id) is not None
