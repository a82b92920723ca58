"""Admin of taskqueue: API tokens and the queue dashboard (linked from the index).

The dashboard is not a model, so its URLs are mounted by the project
(``path("admin/queues/", include(dashboard_urls()))``) and wrapped in
``admin.site.admin_view`` for the staff login; the admin index template gets
a link to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path

from taskqueue.tokens import APIToken
from taskqueue.web import controls, dashboard, schedules

if TYPE_CHECKING:
    TokenModelAdmin = admin.ModelAdmin[APIToken]
else:  # ModelAdmin is only subscriptable for the type checker
    TokenModelAdmin = admin.ModelAdmin

admin.site.index_template = "taskqueue/admin_index.html"


@admin.register(APIToken)
class APITokenAdmin(TokenModelAdmin):
    """Tokens are listed and revoked here; ``createapitoken`` makes them."""

    list_display = ("prefix", "user", "name", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key is shown once, by `manage.py createapitoken`


def dashboard_urls() -> tuple[list[URLPattern], str]:
    """The dashboard's URLs (staff only), to include under the admin prefix."""
    view = admin.site.admin_view
    patterns = [
        path("", view(dashboard.dashboard_view), name="index"),
        path("data/", view(dashboard.dashboard_data), name="data"),
        path("dead-letters/", view(dashboard.dead_letter_action), name="dead-letters"),
        path("cancel/", view(controls.cancel_action), name="cancel"),
        path("pause/", view(controls.pause_action), name="pause"),
        path("schedules/", view(schedules.schedule_action), name="schedules"),
    ]
    return patterns, "taskqueue_dashboard"
