"""Confirmation pages for the dashboard's destructive actions, as Django's delete has.

A destructive form (delete or requeue all dead letters of a queue, delete
some) first answers with a page that says what it will do and to how many
items, and a form that posts the same fields again plus ``post=yes``. Only
that second POST acts. The page is plain HTML (no JavaScript needed); a GET
with the same fields shows it too, so it can be linked. The caller checks
the permission before either.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

CONFIRMED = "yes"


def confirmed(request: HttpRequest) -> bool:
    """Whether this is the second POST, from the confirmation page's form."""
    return request.method == "POST" and request.POST.get("post") == CONFIRMED


def confirmation_page(
    request: HttpRequest,
    *,
    question: str,
    count: int,
    fields: Iterable[tuple[str, str]],
    action_url: str,
) -> HttpResponse:
    """The "Are you sure?" page; ``fields`` are posted back with ``post=yes``."""
    context = {
        **admin.site.each_context(request),
        "title": "Are you sure?",
        "question": question,
        "count": count,
        "fields": list(fields),
        "action_url": action_url,
        "confirm_value": CONFIRMED,
    }
    return TemplateResponse(request, "taskqueue/dashboard_confirm.html", context)
