"""The task list's query string, read into a typed query; garbage becomes a message.

Every parameter is optional. An invalid one is ignored and named in
``TaskQuery.problems`` (shown on the page), so a mistyped URL still gets a
page that says what was wrong, never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from taskqueue.compat import TaskResultStatus
from taskqueue.store.tasklist import Bound

STATUSES = [status.value for status in TaskResultStatus]
MAX_TEXT = 500  # longer ids or paths cannot match anything taskqueue writes


@dataclass(slots=True)
class TaskQuery:
    """What the list is asked for; the cursor is ``before`` (older page),
    ``after`` (newer page) or ``oldest`` (the oldest page)."""

    task_id: str = ""
    path: str = ""  # task path prefix
    task: str = ""  # task path, exact
    status: str = ""
    queue: str = ""
    since: datetime | None = None
    until: datetime | None = None
    before: Bound | None = None
    after: Bound | None = None
    oldest: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def filters_rows(self) -> bool:
        """Whether rows must be read to know if they match (the index knows only time)."""
        return bool(self.path or self.task or self.status)

    def params(self) -> dict[str, str]:
        """The filters as query parameters (for the paging links and the form)."""
        values = {
            "id": self.task_id, "path": self.path, "task": self.task,
            "status": self.status, "queue": self.queue,
            "since": _local(self.since), "until": _local(self.until),
        }  # fmt: skip
        return {k: v for k, v in values.items() if v}


def parse_query(get: Mapping[str, str], queue_names: Sequence[str]) -> TaskQuery:
    """The query of a request's GET parameters; each bad one is a problem, ignored."""
    query = TaskQuery()
    problems = query.problems
    query.task_id = _text(get, "id", "task id", problems=problems)
    query.path = _text(get, "path", "task path", problems=problems)
    query.task = _text(get, "task", "task", problems=problems)
    status = get.get("status", "")
    if status and status not in STATUSES:
        problems.append(f"Unknown status {status[:40]!r}: showing every status.")
    else:
        query.status = status
    queue = get.get("queue", "")
    if queue and queue not in queue_names:
        problems.append(f"Unknown queue {queue[:40]!r}: showing every queue.")
    else:
        query.queue = queue
    query.since = _time(get, "since", "From", problems=problems)
    query.until = _time(get, "until", "To", problems=problems)
    query.before = _cursor(get, "before", problems)
    query.after = _cursor(get, "after", problems)
    query.oldest = get.get("oldest", "") == "1"
    return query


def cursor(score: float, task_id: str) -> str:
    """A page bound as a query parameter: the entry's score and id."""
    return f"{score!r}:{task_id}"


def _cursor(get: Mapping[str, str], name: str, problems: list[str]) -> Bound | None:
    raw = get.get(name, "")
    if not raw:
        return None
    score, _, task_id = raw.partition(":")
    try:
        value = float(score)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not task_id or len(task_id) > MAX_TEXT:
        problems.append(f"Unreadable page position {raw[:60]!r}: showing the newest.")
        return None
    return Bound(value, task_id)


def _text(get: Mapping[str, str], name: str, label: str, *, problems: list[str]) -> str:
    value = get.get(name, "").strip()
    if len(value) > MAX_TEXT:
        problems.append(f"The {label} is longer than {MAX_TEXT} characters: ignored.")
        return ""
    return value


def _time(
    get: Mapping[str, str], name: str, label: str, *, problems: list[str]
) -> datetime | None:
    """An ISO date or date-time (as ``<input type=datetime-local>`` sends), UTC if naive."""
    raw = get.get(name, "").strip()
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(
            f"{label} time {raw[:40]!r} is not a date like 2026-12-03T07:30: ignored."
        )
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _local(when: datetime | None) -> str:
    """A time as ``<input type=datetime-local>`` shows it (UTC, to the µs if need be)."""
    if when is None:
        return ""
    return (
        when.astimezone(UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="seconds" if not when.microsecond else "microseconds")
    )
