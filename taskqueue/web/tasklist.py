"""The task list in the admin: every finished task in retention, searched, filtered, paged.

It reads the per-queue finished index's minute buckets
(``taskqueue/store/tasklist.py``): newest first, merged over the queues by
finish time (``tasklist_merge.py``), paged by a cursor (where each queue's
last entry is), never an offset, so every page costs the same few Redis
commands whatever the retention holds (docs/operations.md, "The task
list"). A task id is looked up exactly (its record, one HMGET per queue).
The index answers the time range (to the microsecond, by a binary search in
the edge minutes); a status, task or path filter needs the rows, so a page
reads at most ``SCAN_WINDOW`` entries, shared by the queues, and, when that
did not fill it, says how far back it searched and links on from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from taskqueue.backends import RedisBackend, backend_for
from taskqueue.connection import InvalidRedisURL, mask_url
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.results import ResultRecord
from taskqueue.store.tasklist import IndexEntry, Record, listed_here
from taskqueue.web.dashboard import result_row
from taskqueue.web.tasklist_merge import Read, merge, spots_ahead, spots_behind
from taskqueue.web.tasklist_query import (
    DONE,
    STATUSES,
    TaskQuery,
    cursor,
    parse_query,
)

PAGE_SIZE = 50
SCAN_WINDOW = 500  # index entries a filtered page reads at most


@dataclass(slots=True)
class Page:
    """One page of rows (newest first) and where the pages next to it start."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    older: str | None = None  # the ``before`` cursor of the next older page
    newer: str | None = None  # the ``after`` cursor of the next newer page
    # When a filtered scan stopped before filling the page: how far it read.
    searched_to: datetime | None = None
    newest_first: bool = True  # the order the page read the index in
    scanned: int = 0  # index entries the page read


def task_page(backend: RedisBackend, query: TaskQuery) -> Page:
    """The rows the query asks for: one index read per queue, then one round trip of records."""
    queues = [query.queue] if query.queue else list(backend.queue_names)
    broker = backend.broker
    if query.task_id:
        found = broker.find_finished(query.task_id, queues)
        rows = [_row(entry, raw) for entry, raw in found]
        return Page(rows=[row for row in rows if _matches(row, query)])
    newest_first = query.after is None and not query.oldest
    spots = (query.before if newest_first else query.after) or [None] * len(queues)
    per_queue = PAGE_SIZE + 1
    if query.filters_rows:
        per_queue = max(per_queue, SCAN_WINDOW // len(queues))
    live = [
        (queue, spot) for queue, spot in zip(queues, spots, strict=True) if spot != DONE
    ]
    slices = broker.index_slices(
        live, count=per_queue, newest_first=newest_first,
        since=query.since.timestamp() if query.since else None,
        until=query.until.timestamp() if query.until else None,
    )  # fmt: skip
    records = broker.row_records([entry for part in slices for entry in part])
    reads = merge(slices, records, per_queue=per_queue, newest_first=newest_first)
    page = Page(newest_first=newest_first)
    taken = _walk(page, reads, query)
    sizes = {queue: len(part) for (queue, _), part in zip(live, slices, strict=True)}
    ahead = spots_ahead(queues, spots, taken, sizes=sizes, per_queue=per_queue)
    behind = spots_behind(queues, spots, taken, forward=not newest_first)
    more = any(spot != DONE for spot in ahead)
    if not more or len(page.rows) == PAGE_SIZE:
        page.searched_to = None
    if newest_first:
        page.older = cursor(ahead) if more else None
        page.newer = cursor(behind) if query.before and taken else None
    else:
        page.rows.reverse()  # read oldest first, shown newest first
        page.newer = cursor(ahead) if more else None
        page.older = cursor(behind) if query.after and taken else None
    return page


def _walk(
    page: Page, reads: Iterator[Read], query: TaskQuery
) -> dict[str, list[IndexEntry]]:
    """Fill the page from the merged entries; the entries it read, per queue.

    An entry counts once its record names its bucket (``listed_here``): a task
    settled again is listed in a later bucket too, and shown there. An id the
    page showed already (settled twice in one minute) is skipped.
    """
    seen: set[str] = set()
    taken: dict[str, list[IndexEntry]] = {}
    for entry, raw, when in reads:
        if len(page.rows) == PAGE_SIZE:
            break
        taken.setdefault(entry.queue, []).append(entry)
        page.scanned += 1
        page.searched_to = when
        if raw is None or not listed_here(entry, raw) or entry.task_id in seen:
            continue  # expired, or listed again in a later bucket, or shown already
        seen.add(entry.task_id)
        row = _row(entry, raw)
        if _in_range(when, query) and _matches(row, query):
            page.rows.append(row)
    return taken


def _in_range(when: datetime, query: TaskQuery) -> bool:
    """The exact time range (the index answers it to the minute)."""
    return (query.since is None or when >= query.since) and (
        query.until is None or when <= query.until
    )


def _row(entry: IndexEntry, raw: Record) -> dict[str, Any]:
    row = result_row(entry.task_id, ResultRecord.parse(raw), entry.queue)
    row["url"] = task_url(entry.task_id)
    return row


def _matches(row: dict[str, Any], query: TaskQuery) -> bool:
    if query.status and row["status"] != query.status:
        return False
    if query.task and row["task"] != query.task:
        return False
    return str(row["task"]).startswith(query.path)


def task_url(task_id: str) -> str:
    """The admin's task page when it exists (``taskqueue_dashboard:task``), else the JSON API."""
    try:
        return reverse("taskqueue_dashboard:task", kwargs={"task_id": task_id})
    except NoReverseMatch:
        return reverse("taskqueue:task-detail", args=[task_id])


def _when(score: float) -> datetime:
    return datetime.fromtimestamp(score, tz=UTC)


def _links(query: TaskQuery, page: Page) -> dict[str, str]:
    """The paging links' URLs; each keeps the filters."""
    base = reverse("taskqueue_dashboard:tasks")
    params = query.params()
    params.pop("id", None)
    links = {}
    if query.before or query.after or query.oldest:
        links["newest"] = _url(base, params)
    if page.older:
        links["older"] = _url(base, {**params, "before": page.older})
    if page.newer:
        links["newer"] = _url(base, {**params, "after": page.newer})
    if not query.oldest and (page.older or query.after):
        links["oldest"] = _url(base, {**params, "oldest": "1"})
    return links


def _url(base: str, params: dict[str, str]) -> str:
    return base + ("?" + urlencode(params) if params else "")


@require_GET
def task_list_view(request: HttpRequest) -> HttpResponse:
    """The task list page (staff only: mounted through ``admin_view``)."""
    from django.contrib import admin

    backend = backend_for()
    query = parse_query(request.GET, backend.queue_names)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Tasks",
        "query": query,
        "form": query.params(),
        "statuses": STATUSES,
        "queue_names": backend.queue_names,
        "page_size": PAGE_SIZE,
        "scan_window": SCAN_WINDOW,
    }
    try:
        page = task_page(backend, query)
    except BrokerUnavailable:
        context["error"] = (
            f"Redis is unavailable ({mask_url(backend.config.redis_url)})"
        )
    except InvalidRedisURL as exc:  # its message is masked already
        context["error"] = str(exc)
    else:
        context.update(page=page, links=_links(query, page))
    return TemplateResponse(request, "taskqueue/tasklist.html", context)
