"""Admin of taskqueue: API tokens (created with the key shown once, revoked) and the
queue dashboard (linked from the index).

The dashboard is not a model, so its URLs are mounted by the project
(``path("admin/queues/", include(dashboard_urls()))``) and wrapped in
``admin.site.admin_view`` for the staff login; the admin index template gets
a link to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from taskqueue import enqueuer
from taskqueue.tokens import APIToken
from taskqueue.web import (
    controls,
    dashboard,
    messages,
    schedules,
    tasklist,
    taskpage,
    taskpage_actions,
)

if TYPE_CHECKING:
    TokenModelAdmin = admin.ModelAdmin[APIToken]
else:  # ModelAdmin is only subscriptable for the type checker
    TokenModelAdmin = admin.ModelAdmin

admin.site.index_template = "taskqueue/admin_index.html"


@admin.register(APIToken)
class APITokenAdmin(TokenModelAdmin):
    """Tokens are created, listed and revoked (deleted) here, as by ``createapitoken``.

    Adding needs ``taskqueue.add_apitoken``, revoking ``delete_apitoken``
    (Django's own checks). Only the key's digest is stored: the plain key
    is generated on save and rendered once, on the page that answers the
    add form (not a redirect, so it never sits in the session's messages),
    marked ``Cache-Control: no-store``.
    """

    list_display = ("prefix", "user", "name", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user", "name") if obj is None else ("name", *self.readonly_fields)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Any = None
    ) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "user":  # a token of an inactive user would never work
            kwargs["queryset"] = get_user_model()._default_manager.filter(
                is_active=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(  # noqa: PLR0917 (Django's signature)
        self, request: HttpRequest, obj: APIToken, form: Any, change: bool
    ) -> None:
        if not change:
            obj._shown_once = obj.assign_key()  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: APIToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The page that shows the new key, once."""
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "key": getattr(obj, "_shown_once", ""),
            "changelist_url": reverse("admin:taskqueue_apitoken_changelist"),
        }
        response = TemplateResponse(request, "taskqueue/token_created.html", context)
        response["Cache-Control"] = "no-store"
        return response


def dashboard_urls() -> tuple[list[URLPattern], str]:
    """The dashboard's URLs (staff only), to include under the admin prefix."""

    def view(function: Any) -> Any:  # staff only; its enqueues are recorded for them
        return admin.site.admin_view(enqueuer.records_user(function))

    patterns = [
        path("", view(dashboard.dashboard_view), name="index"),
        path("data/", view(dashboard.dashboard_data), name="data"),
        path("tasks/", view(tasklist.task_list_view), name="tasks"),
        path("dead-letters/", view(dashboard.dead_letter_action), name="dead-letters"),
        path("cancel/", view(controls.cancel_action), name="cancel"),
        path("pause/", view(controls.pause_action), name="pause"),
        path("schedules/", view(schedules.schedule_action), name="schedules"),
        path(
            "messages/<str:queue>/pending/", view(messages.pending_view), name="pending"
        ),
        path(
            "messages/<str:queue>/scheduled/",
            view(messages.scheduled_view),
            name="scheduled",
        ),
        path("messages/<str:queue>/dead/", view(messages.dead_view), name="dead"),
        path("cancel-many/", view(messages.cancel_messages), name="cancel-messages"),
        path("tasks/<str:task_id>/", view(taskpage.task_page), name="task"),
        path(
            "tasks/<str:task_id>/action/",
            view(taskpage_actions.task_action),
            name="task-action",
        ),
    ]
    return patterns, "taskqueue_dashboard"
