"""The demo site's own pages: a landing page at ``/`` (the banner advertises it)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from taskqueue import __version__


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """Links to what the site offers: admin, dashboard, API schema, health check."""
    return TemplateResponse(request, "index.html", {"version": __version__})
