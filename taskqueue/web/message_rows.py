"""Rows of the admin's message pages, built from whatever bytes Redis holds.

Messages are hostile input: not JSON, not UTF-8, a legacy ``{'recipe_id': 5}``,
megabytes long. Every one becomes a row: the envelope's fields when
``taskqueue.decoding`` accepts it, else a note saying why not; always a
short preview of the raw bytes (invalid UTF-8 shown as ``\\xNN``). The
template escapes everything; nothing here is marked safe.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.urls import NoReverseMatch, reverse

from taskqueue.decoding import decode
from taskqueue.exceptions import PoisonMessage
from taskqueue.protocol import ID_RE, WAKE
from taskqueue.results import loads_or_none, timestamp

DECODE_LIMIT = 1 << 20  # bytes: a bigger message is shown raw, not parsed
RAW_PREVIEW = 300  # characters of the raw bytes shown on a row
ARGS_PREVIEW = 120  # characters of the arguments shown on a row


def raw_preview(raw: bytes | None, limit: int = RAW_PREVIEW) -> str:
    """The first bytes as text, invalid UTF-8 as ``\\xNN``, cut at ``limit``."""
    if raw is None:
        return "(missing)"
    text = raw[: limit * 4].decode("utf-8", errors="backslashreplace")
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def args_preview(args: list[Any], kwargs: dict[str, Any]) -> str:
    """``1, "a", key=2`` in at most ARGS_PREVIEW characters."""
    parts = [orjson.dumps(a).decode() for a in args[:20]]
    parts += [f"{k}={orjson.dumps(v).decode()}" for k, v in list(kwargs.items())[:20]]
    return _cut(", ".join(parts), ARGS_PREVIEW)


def task_link(task_id: str) -> str:
    """The admin task page when this tree has one, else the JSON API's detail."""
    try:
        return reverse("taskqueue_dashboard:task", kwargs={"task_id": task_id})
    except NoReverseMatch:
        return reverse("taskqueue:task-detail", args=[task_id])


def message_row(raw: bytes, queue: str) -> dict[str, Any]:
    """One pending or scheduled message as its row shows it."""
    row: dict[str, Any] = {"raw": raw_preview(raw), "size": len(raw), "id": ""}
    if len(raw) > DECODE_LIMIT:
        return {**row, "note": f"too large to decode here ({len(raw)} bytes)"}
    try:
        env = decode(raw, max_bytes=DECODE_LIMIT, queue=queue)
    except PoisonMessage as exc:
        return {**row, "note": _cut(f"unreadable: {exc}", 200)}
    row.update(
        task=(env.task or "(legacy message)") if env.legacy else env.task,
        priority=env.priority,
        enqueued_at=timestamp(env.enqueued_at) if env.enqueued_at else None,
        attempt=env.attempt,
        args=args_preview(env.args, env.kwargs),
        note="legacy message: gets a task id when first claimed" if env.legacy else "",
    )
    if env.id:
        row.update(id=env.id, url=task_link(env.id))
    return row


def pending_rows(raws: list[bytes], queue: str) -> list[dict[str, Any]]:
    """Rows of the pending page; wake tokens (no tasks) are left out."""
    return [message_row(raw, queue) for raw in raws if raw != WAKE]


def scheduled_rows(rows: list[tuple[bytes, float]], queue: str) -> list[dict[str, Any]]:
    return [{**message_row(raw, queue), "due": timestamp(due)} for raw, due in rows]


def dead_rows(
    rows: list[tuple[str, bytes | None, bytes | None]],
) -> list[dict[str, Any]]:
    """Dead letters: their id, why they were parked, and the raw bytes as received."""
    shown = []
    for dead_id, entry, raw in rows:
        info = loads_or_none(entry) if entry is not None else None
        info = info if isinstance(info, dict) else {}
        task_id = info.get("task_id")
        task_id = task_id if isinstance(task_id, str) and task_id else ""
        shown.append({
            "id": dead_id,
            "at": timestamp(info.get("at")),
            "reason": _cut(str(info.get("reason") or "(unreadable entry)"), 300),
            "task_id": _cut(task_id, 80),
            "url": task_link(task_id) if ID_RE.fullmatch(task_id) else "",
            "size": len(raw) if raw is not None else None,
            "raw": raw_preview(raw, 1000),
        })  # fmt: skip
    return shown
