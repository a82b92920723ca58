"""The task list's query string, read into a typed query; garbage becomes a message.

Every parameter is optional. An invalid one is ignored and named in
``TaskQuery.problems`` (shown on the page), so a mistyped URL still gets a
page that says what was wrong, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from taskqueue.compat import TaskResultStatus
from taskqueue.store.tasklist import Position

# Where a page starts in one queue: past a position, at its edge (None: the
# newest for an older page, the oldest for a newer one), or nowhere (DONE: the
# pages before took all of it that way).
DONE: Literal["done"] = "done"
Spot = Position | None | Literal["done"]

STATUSES = [status.value for status in TaskResultStatus]
MAX_TEXT = 500  # longer ids or paths cannot match anything taskqueue writes
_POSITION = re.compile(r"(\d{1,12})\.(-?\d{1,12})")


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
    before: list[Spot] | None = None  # one spot per listed queue, in their order
    after: list[Spot] | None = None
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
    queues = 1 if query.queue else len(queue_names)
    query.before = _cursor(get, "before", queues=queues, problems=problems)
    query.after = _cursor(get, "after", queues=queues, problems=problems)
    query.oldest = get.get("oldest", "") == "1"
    return query


def cursor(spots: Sequence[Spot]) -> str:
    """A page bound as a query parameter: per listed queue ``minute.index``,
    ``-`` (its edge) or ``!`` (done), joined by ``~``."""
    return "~".join(_spot(spot) for spot in spots)


def _spot(spot: Spot) -> str:
    if spot is None:
        return "-"
    if spot == DONE:
        return "!"
    return f"{spot.minute}.{spot.index}"


def _cursor(
    get: Mapping[str, str], name: str, *, queues: int, problems: list[str]
) -> list[Spot] | None:
    raw = get.get(name, "")
    if not raw:
        return None
    parts = raw.split("~")
    spots = [_read_spot(part) for part in parts]
    if len(parts) != queues or any(spot is False for spot in spots):
        problems.append(f"Unreadable page position {raw[:60]!r}: showing the newest.")
        return None
    return [spot for spot in spots if spot is not False]


def _read_spot(part: str) -> Spot | Literal[False]:
    if part in ("-", "!"):
        return None if part == "-" else DONE
    match = _POSITION.fullmatch(part)
    if match is None:
        return False
    return Position(int(match[1]), int(match[2]))


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
