"""The task list in the admin: every finished task in retention, searched, filtered, paged.

It reads the per-queue finished index (``taskqueue/store/tasklist.py``):
newest first, paged by a cursor (the last entry's finish time and id), never
an offset, so every page costs the same few Redis commands whatever the
retention holds (docs/operations.md, "The task list"). A task id is looked
up exactly (one ZSCORE per queue). The time range is the index's own
order; a status, task or path filter needs the rows, so a page reads at
most ``SCAN_WINDOW`` entries and, when that did not fill it, says how far
back it searched and links on from there.
"""

from __future__ import annotations

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
from taskqueue.store.tasklist import IndexEntry
from taskqueue.web.dashboard import result_row
from taskqueue.web.tasklist_query import STATUSES, TaskQuery, cursor, parse_query

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
    """The rows the query asks for, in two round trips to Redis."""
    queues = [query.queue] if query.queue else list(backend.queue_names)
    broker = backend.broker
    if query.task_id:
        entries = broker.find_finished(query.task_id, queues)
        return Page(rows=_rows(backend, query, entries, limit=len(entries) + 1)[0])
    newest_first = query.after is None and not query.oldest
    window = SCAN_WINDOW if query.filters_rows else PAGE_SIZE + 1
    entries = broker.index_slice(
        queues, count=window, newest_first=newest_first,
        start=query.before if newest_first else query.after,
        since=query.since.timestamp() if query.since else None,
        until=query.until.timestamp() if query.until else None,
    )  # fmt: skip
    rows, last = _rows(backend, query, entries, limit=PAGE_SIZE)
    more = last + 1 < len(entries) or len(entries) == window
    page = Page(rows=rows, newest_first=newest_first, scanned=last + 1)
    stop = entries[last] if entries and more else None
    if stop is not None and len(rows) < PAGE_SIZE:
        page.searched_to = _when(stop.score)
    if newest_first:
        page.older = cursor(stop.score, stop.task_id) if stop else None
        page.newer = _edge(rows[0]) if rows and query.before else None
    else:
        page.rows.reverse()  # read oldest first, shown newest first
        page.newer = cursor(stop.score, stop.task_id) if stop else None
        page.older = _edge(page.rows[-1]) if page.rows and query.after else None
    return page


def _rows(
    backend: RedisBackend, query: TaskQuery, entries: list[IndexEntry], *, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The rows of the entries that match, up to ``limit``, and the index of the last read."""
    records = backend.broker.row_records(entries)
    rows: list[dict[str, Any]] = []
    last = len(entries) - 1
    for i, (entry, raw) in enumerate(zip(entries, records, strict=True)):
        if raw is None:  # expired (or deleted) since it was indexed: gone
            continue
        row = result_row(entry.task_id, ResultRecord.parse(raw), entry.queue)
        if _matches(row, query):
            row["url"] = task_url(entry.task_id)
            row["cursor"] = cursor(entry.score, entry.task_id)
            rows.append(row)
            if len(rows) == limit:
                last = i
                break
    return rows, last


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


def _edge(row: dict[str, Any]) -> str:
    return str(row["cursor"])


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
