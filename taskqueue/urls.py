"""The task queue's JSON API, mounted under /api/ (see taskqueue.openapi)."""

from django.urls import path

from taskqueue import api

app_name = "taskqueue"

urlpatterns = [
    path("tasks/<str:task_id>/", api.task_detail, name="task-detail"),
    path("queues/", api.queues, name="queues"),
    path("schema/", api.schema, name="schema"),
]
