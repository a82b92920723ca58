"""Workflows in Redis: stored and started in one script, read back for status.

A workflow lives on its queue's slot: ``{Q}:workflow:<id>`` (its steps,
their messages, the errors to record if it stops) and
``{Q}:workflow:<id>:done`` (step task id -> final status, written once per
step by the settle script, ``lua/settle_workflow.lua``). Both expire with
the results' TTL, renewed whenever a step finishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors
from taskqueue.store.records import Record


@dataclass(frozen=True, slots=True)
class StoredWorkflow:
    """What Redis holds of one workflow, as read in one round trip per queue."""

    queue: str
    state: Record  # the workflow hash
    done: Record  # step task id -> final status
    statuses: dict[str, bytes | None]  # step task id -> its record's status
    ready: dict[str, bool]  # step task id -> has a READY entry


class WorkflowStore(StoreCore):
    """Start workflows and read them back."""

    @translate_errors
    def start_workflow(
        self,
        queue: str,
        workflow_id: str,
        *,
        entries: Sequence[tuple[str, bytes]],
        release: int,
        fields: Mapping[str, bytes | str | int],
        ttl: int,
    ) -> int:
        """Store the workflow and every step's READY entry; push the first ``release``."""
        k = self.keys(queue)
        argv: list[Any] = [ttl, len(entries), release]
        for task_id, message in entries:
            argv.extend((task_id, message))
        for name, value in fields.items():
            argv.extend((name, value))
        keys = [k.pending, k.ready, k.workflow(workflow_id)]
        ids = [task_id for task_id, _ in entries]
        return int(self.enqueue_script("workflow", keys, argv, ids=ids))

    @translate_errors
    def workflow_record(
        self, workflow_id: str, queues: Iterable[str]
    ) -> StoredWorkflow | None:
        """The workflow from the first queue that holds it, with its steps' states."""
        for queue in queues:
            k = self.keys(queue)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.workflow(workflow_id))
                pipe.hgetall(k.workflow_done(workflow_id))
                state, done = pipe.execute()
            if state:
                return self._with_steps(queue, dict(state), dict(done))
        return None

    def _with_steps(self, queue: str, state: Record, done: Record) -> StoredWorkflow:
        k = self.keys(queue)
        ids = [
            value.decode("utf-8", "replace")
            for name, value in state.items()
            if name.startswith(b"id:")
        ]
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hget(k.result(task_id), "status")
                pipe.hexists(k.ready, task_id)
            replies = cast(list[Any], pipe.execute())
        statuses = dict(zip(ids, replies[0::2], strict=True))
        ready = {i: bool(r) for i, r in zip(ids, replies[1::2], strict=True)}
        return StoredWorkflow(queue, state, done, statuses, ready)
