"""The task queue's JSON API, mounted under /api/ (see taskqueue.web.openapi)."""

from django.urls import path

from taskqueue.web import api, workflows

app_name = "taskqueue"

urlpatterns = [
    path("tasks/<str:task_id>/", api.task_detail, name="task-detail"),
    path(
        "workflows/<str:workflow_id>/",
        workflows.workflow_detail,
        name="workflow-detail",
    ),
    path("tasks/<str:task_id>/cancel/", api.task_cancel, name="task-cancel"),
    path("queues/", api.queues, name="queues"),
    path("schema/", api.schema, name="schema"),
]
