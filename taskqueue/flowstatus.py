"""A workflow's status: its steps and what each has come to, read from Redis.

``workflow_status(id)`` (also ``taskqueue.workflow_status``) is what
``GET /api/workflows/<id>/`` shows. Reading is total: whatever the stored
hash holds, a field that cannot be read is shown as null, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS
from taskqueue.exceptions import WorkflowDoesNotExist
from taskqueue.store.workflows import StoredWorkflow
from taskqueue.workflows import CALLBACK, valid_id

FINAL = frozenset({"SUCCESSFUL", "FAILED"})


@dataclass(frozen=True, slots=True)
class StepStatus:
    """One step (a chain step, a group member or its callback) and its status."""

    role: str  # step | member | callback
    index: int  # 1-based within its role
    task_id: str
    task: str | None  # the task's path, as stored
    status: str | None  # READY | RUNNING | SUCCESSFUL | FAILED; None if unknown

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role, "index": self.index, "id": self.task_id,
            "task": self.task, "status": self.status,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class WorkflowStatus:
    """What a workflow has come to: RUNNING until every step is final."""

    id: str
    kind: str | None  # chain | group
    queue: str
    status: str  # READY | RUNNING | SUCCESSFUL | FAILED
    steps: tuple[StepStatus, ...]  # chain steps or group members, in order
    callback: StepStatus | None
    only_if_all_succeeded: bool

    @property
    def finished(self) -> int:
        return sum(1 for s in self.steps if s.status in FINAL)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "queue": self.queue,
            "status": self.status, "finished": self.finished,
            "total": len(self.steps),
            "only_if_all_succeeded": self.only_if_all_succeeded,
            "steps": [s.as_dict() for s in self.steps],
            "callback": self.callback.as_dict() if self.callback else None,
        }  # fmt: skip


def workflow_status(
    workflow_id: str, *, backend: str = DEFAULT_TASK_BACKEND_ALIAS
) -> WorkflowStatus:
    """The workflow's steps and their statuses; WorkflowDoesNotExist if none is stored."""
    from taskqueue.backends import backend_for

    if not valid_id(workflow_id):
        raise WorkflowDoesNotExist(f"{workflow_id!r} is not a workflow id")
    redis_backend = backend_for(backend)
    stored = redis_backend.broker.workflow_record(
        workflow_id, redis_backend.queue_names
    )
    if stored is None:
        raise WorkflowDoesNotExist(workflow_id)
    return from_stored(workflow_id, stored)


def from_stored(workflow_id: str, stored: StoredWorkflow) -> WorkflowStatus:
    """The status of a stored workflow (never raises on odd contents)."""
    state = {k.decode("utf-8", "replace"): v for k, v in stored.state.items()}
    kind = _text(state.get("kind"))
    role = "step" if kind == "chain" else "member"
    count = _count(state.get("n"))
    steps = tuple(
        s for s in (_step(stored, state, str(k), role=role, index=k) for k in range(1, count + 1))
        if s is not None
    )  # fmt: skip
    callback = _step(stored, state, CALLBACK, role="callback", index=1)
    every = [*steps, *([callback] if callback else [])]
    return WorkflowStatus(
        id=workflow_id, kind=kind, queue=stored.queue, status=_overall(every),
        steps=steps, callback=callback,
        only_if_all_succeeded=state.get("only") == b"1",
    )  # fmt: skip


def _step(
    stored: StoredWorkflow, state: dict[str, bytes], key: str, *, role: str, index: int
) -> StepStatus | None:
    task_id = _text(state.get(f"id:{key}"))
    if task_id is None:
        return None
    done = stored.done.get(task_id.encode())
    status = _text(done if done is not None else stored.statuses.get(task_id))
    if status is None and stored.ready.get(task_id):
        status = "READY"
    return StepStatus(role, index, task_id, _task_path(state.get(f"msg:{key}")), status)


def _overall(steps: list[StepStatus]) -> str:
    statuses = [s.status for s in steps]
    if statuses and all(s in FINAL for s in statuses):
        return "FAILED" if "FAILED" in statuses else "SUCCESSFUL"
    if any(s not in (None, "READY") for s in statuses):
        return "RUNNING"
    return "READY"


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None


def _count(value: bytes | None) -> int:
    try:
        count = int(value or b"0")
    except ValueError:
        return 0
    return min(max(count, 0), 100_000)


def _task_path(message: bytes | None) -> str | None:
    try:
        path = orjson.loads(message or b"").get("task")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return path if isinstance(path, str) else None
