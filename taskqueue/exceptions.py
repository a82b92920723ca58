"""The errors taskqueue raises; each says what went wrong, never with secrets."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class TaskQueueError(Exception):
    """Base class of every taskqueue error."""


class BrokerUnavailable(TaskQueueError):
    """Redis could not be reached or answered with a connection error."""


class NotReplicated(BrokerUnavailable):
    """A write reached the primary, but fewer replicas than required confirmed it
    within the timeout (DURABILITY "replicated"): a failover now could lose it."""

    def __init__(self, message: str, *, acknowledged: int = 0, wanted: int = 1) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.wanted = wanted


class NotDurable(NotReplicated):
    """``enqueue()`` under DURABILITY "replicated" could not prove its tasks replicated.

    The tasks may exist (the primary had them; a failover may or may not keep
    them): ``task_ids`` names them. Check ``get_result(id)`` and enqueue again
    only the ones that do not exist, or make the task idempotent (e.g.
    ``once_per_task``) and enqueue it again; do not assume it was not queued.
    """

    def __init__(
        self, message: str, *, task_ids: tuple[str, ...], acknowledged: int = 0,
        wanted: int = 1,
    ) -> None:  # fmt: skip
        super().__init__(message, acknowledged=acknowledged, wanted=wanted)
        self.task_ids = task_ids


class InvalidBackend(TaskQueueError, ImproperlyConfigured):
    """``TASKS`` has no such alias, or its backend is not a taskqueue RedisBackend."""


class BrokerError(TaskQueueError):
    """Redis answered with an error that retrying will not cure (e.g. WRONGTYPE)."""


class PoisonMessage(TaskQueueError):
    """A message that must never run: it goes to the dead-letter list as it is."""

    def __init__(self, reason: str, raw: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class PermanentError(TaskQueueError):
    """Raise from a task to fail it at once, without retries."""


class TaskTimeout(TaskQueueError, TimeoutError):
    """Raised inside a task that ran past its ``timeout`` (django/new-features#144).

    Raised as it is at the ``soft_timeout``, so that the task can clean up;
    the hard stop raises its subclass ``TimeLimitExceeded``.
    """

    def __init__(self, message: str = "task ran past its soft timeout") -> None:
        super().__init__(message)


class TimeLimitExceeded(TaskTimeout):
    """The task ran past its hard time limit (``timeout``) and was stopped."""

    def __init__(self, message: str = "task ran over its time limit") -> None:
        super().__init__(message)


class ResultNotSerializable(TaskQueueError):
    """The task returned a value that is not JSON."""


class WorkflowStopped(TaskQueueError):
    """A workflow step that never ran: an earlier step (or a group member) failed."""


class WorkflowDoesNotExist(TaskQueueError, LookupError):
    """No workflow with that id is stored (never, or expired with the results)."""


class WaitTimeout(TaskQueueError, TimeoutError):
    """``taskqueue.wait()`` gave up: the task did not finish within the timeout."""


class TaskCancelled(TaskQueueError):
    """The task was cancelled (``taskqueue.cancel``): it is FAILED with this error.

    Django's Tasks API has no CANCELLED status, so a cancelled task's result
    is FAILED and its last error is of this class. Raised inside a running
    task only by ``taskqueue.cancel_requested`` callers that choose to.
    """
