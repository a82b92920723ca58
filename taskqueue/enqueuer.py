"""Who enqueued a task: the user a web request acts for, recorded in its message.

The API (web/endpoint.py) and the admin views set it for the length of the
request; every task enqueued meanwhile carries ``"by": "<user pk>"`` (see
docs/protocol.md), which its result record keeps, so that a caller without
``taskqueue.view_tasks`` may still read the tasks it enqueued (web/api.py).
Tasks enqueued anywhere else (a worker, a command, a shell) carry none.
A context variable, not a thread local: async views and ``sync_to_async``
see the same value, and nothing leaks between requests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

BY_MAX = 150  # characters: a user pk as text (an int, a UUID, a username key)
VIEW_TASKS = "taskqueue.view_tasks"

_by: ContextVar[str | None] = ContextVar("taskqueue_enqueued_by", default=None)
View = TypeVar("View", bound=Callable[..., Any])


def current() -> str | None:
    """The user pk the tasks enqueued now are recorded for, or None."""
    return _by.get()


def identity(user: Any) -> str | None:
    """A user's pk as the message records it; None for anonymous users."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    pk = str(user.pk)
    return pk if 0 < len(pk) <= BY_MAX else None


@contextmanager
def acting_for(user: Any) -> Iterator[None]:
    """Record ``user`` as the enqueuer of the tasks enqueued inside."""
    token = _by.set(identity(user))
    try:
        yield
    finally:
        _by.reset(token)


def records_user(view: View) -> View:
    """A view whose enqueues are recorded for ``request.user`` (admin views)."""

    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        with acting_for(getattr(request, "user", None)):
            return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def may_view(user: Any, enqueued_by: str | None) -> bool:
    """Whether ``user`` may see a task's arguments, result and errors."""
    if user.has_perm(VIEW_TASKS):
        return True
    return enqueued_by is not None and enqueued_by == identity(user)
