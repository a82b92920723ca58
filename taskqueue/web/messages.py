"""The admin's message pages: pending, scheduled and dead letters of one queue.

Paged (``?page=N``, PAGE_SIZE rows) with a fixed number of Redis commands
per page (taskqueue/store/messages.py). Staff only (the URLs are wrapped in
``admin.site.admin_view``); arguments and message bytes need
``taskqueue.view_tasks``, the actions ``taskqueue.manage_queues``.
Cancel is a plain POST form per row (acts at once) plus "Cancel selected"
(checkboxes), which first shows the confirmation page saying how many tasks
it touches. Dead letters reuse the dashboard's requeue/delete action, sent
back here afterwards. No JavaScript anywhere.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from taskqueue.backends import RedisBackend, backend_for
from taskqueue.cancellation import cancel
from taskqueue.compat import TaskResultDoesNotExist
from taskqueue.connection import InvalidRedisURL, mask_url
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.store.messages import Page
from taskqueue.web import visibility
from taskqueue.web.confirmation import confirmation_page, confirmed
from taskqueue.web.message_rows import dead_rows, pending_rows, scheduled_rows

MANAGE_PERMISSION = "taskqueue.manage_queues"
PAGE_SIZE = 50
MAX_PAGE = 10_000_000
# What a staff user without view_tasks does not see (docs/permissions.md).
HIDDEN_FIELDS = {"args": visibility.HIDDEN, "raw": visibility.HIDDEN}
KINDS = {"pending": "Pending", "scheduled": "Scheduled", "dead": "Dead letters"}


class BadRequest(Exception):
    """A query the page answers with a message (and this status), not a 500."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def page_number(request: HttpRequest) -> int:
    """The ``page`` parameter (1 when absent); anything else is a BadRequest."""
    raw = request.GET.get("page", "1")
    if raw.isascii() and raw.isdigit() and len(raw) <= 8 and 1 <= int(raw) <= MAX_PAGE:
        return int(raw)
    raise BadRequest(f"Page must be a number from 1 to {MAX_PAGE}, not {raw[:40]!r}.")


def _read(
    backend: RedisBackend, kind: str, queue: str, *, number: int
) -> tuple[Page[Any], list[dict[str, Any]]]:
    offset, broker = (number - 1) * PAGE_SIZE, backend.broker
    if kind == "pending":
        page: Page[Any] = broker.pending_page(queue, offset, PAGE_SIZE)
        return page, pending_rows(page.rows, queue)
    if kind == "scheduled":
        page = broker.scheduled_page(queue, offset, PAGE_SIZE)
        return page, scheduled_rows(page.rows, queue)
    page = broker.dead_page(queue, offset, PAGE_SIZE)
    return page, dead_rows(page.rows)


def _paging(kind: str, queue: str, *, number: int, total: int) -> dict[str, Any]:
    last = max(1, -(-total // PAGE_SIZE))
    url = reverse(f"taskqueue_dashboard:{kind}", args=[queue])
    return {
        "number": number, "last": last, "total": total,
        "first_shown": min(total, (number - 1) * PAGE_SIZE + 1),
        "last_shown": min(total, number * PAGE_SIZE),
        "previous": f"{url}?page={number - 1}" if number > 1 else "",
        "next": f"{url}?page={number + 1}" if number < last else "",
        "first_url": f"{url}?page=1", "last_url": f"{url}?page={last}",
        "here": f"{url}?page={number}",
    }  # fmt: skip


def _context(request: HttpRequest, kind: str, queue: str) -> dict[str, Any]:
    backend = backend_for()
    if queue not in backend.queue_names:
        raise BadRequest(f"No queue named {queue[:100]!r}.", status=404)
    number = page_number(request)
    try:
        page, rows = _read(backend, kind, queue, number=number)
    except BrokerUnavailable:
        raise BadRequest(
            f"Redis is unavailable ({mask_url(backend.config.redis_url)}): "
            "the messages cannot be read.", status=503,
        ) from None  # fmt: skip
    except InvalidRedisURL as exc:
        raise BadRequest(str(exc), status=503) from None
    user: Any = request.user
    viewer = visibility.can_view(user)
    return {
        "rows": rows if viewer else [{**row, **HIDDEN_FIELDS} for row in rows],
        "paging": _paging(kind, queue, number=number, total=page.total),
        "can_manage": user.has_perm(MANAGE_PERMISSION),
        "can_view": viewer,
    }


def _view(request: HttpRequest, kind: str, queue: str) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "title": f"{KINDS[kind]} of queue {queue}",
        "kind": kind, "queue": queue, "kinds": KINDS,
    }  # fmt: skip
    status = 200
    try:
        context.update(_context(request, kind, queue))
    except BadRequest as exc:
        context["error"], status = str(exc), exc.status
    return TemplateResponse(
        request, f"taskqueue/messages_{kind}.html", context, status=status
    )


@require_GET
def pending_view(request: HttpRequest, queue: str) -> HttpResponse:
    return _view(request, "pending", queue)


@require_GET
def scheduled_view(request: HttpRequest, queue: str) -> HttpResponse:
    return _view(request, "scheduled", queue)


@require_GET
def dead_view(request: HttpRequest, queue: str) -> HttpResponse:
    return _view(request, "dead", queue)


def back_url(request: HttpRequest, default: str) -> str:
    """The ``back`` field when it is a URL of this site, else ``default``."""
    form = request.POST if request.method == "POST" else request.GET
    back = form.get("back", "")
    allowed = url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return back if back and allowed else default


@require_POST
def cancel_messages(request: HttpRequest) -> HttpResponse:
    """Cancel one task (``ids``) at once, or the selected ones (``bulk``) once confirmed."""
    user: Any = request.user
    if not user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied
    back = back_url(request, reverse("taskqueue_dashboard:index"))
    ids = list(dict.fromkeys(request.POST.getlist("ids")))
    if not ids:
        messages.error(request, "No task was selected.")
        return HttpResponseRedirect(back)
    if request.POST.get("bulk") and not confirmed(request):
        shown = ", ".join(i[:63] for i in ids[:20]) + (
            " and more" if len(ids) > 20 else ""
        )
        return confirmation_page(
            request, count=len(ids),
            question=f"Are you sure you want to cancel these tasks: {shown}?",
            fields=[("bulk", "1"), ("back", back), *(("ids", i) for i in ids)],
            action_url=reverse("taskqueue_dashboard:cancel-messages"),
        )  # fmt: skip
    _cancel_each(request, ids)
    return HttpResponseRedirect(back)


def _cancel_each(request: HttpRequest, ids: list[str]) -> None:
    """Cancel every id, then one message per outcome (not one per task)."""
    done: list[str] = []
    finished: list[str] = []
    unknown: list[str] = []
    try:
        for task_id in ids:
            try:
                (done if cancel(task_id) else finished).append(task_id)
            except (ValueError, TaskResultDoesNotExist):
                unknown.append(task_id[:63])
    except BrokerUnavailable:
        messages.error(request, "Redis is unavailable; the rest was not cancelled.")
    if done:
        messages.success(
            request, f"Cancelled {len(done)} task(s): {', '.join(done[:20])}."
        )
    if finished:
        messages.warning(request, f"Already finished: {', '.join(finished[:20])}.")
    if unknown:
        messages.error(request, f"No such task: {', '.join(unknown[:20])}.")
