"""GET /api/workflows/<id>/: a workflow's steps and their statuses (JSON).

``workflow_url`` is the dashboard's link from a task to its workflow. Same
auth and error shape as /api/tasks/<id>/ (``taskqueue.web.endpoint``):
an unknown, expired or malformed id is a JSON 404, Redis down a 503.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from taskqueue.exceptions import WorkflowDoesNotExist
from taskqueue.flowstatus import workflow_status
from taskqueue.results import ResultRecord
from taskqueue.web.endpoint import endpoint
from taskqueue.web.errors import ApiError
from taskqueue.workflows import valid_id


@endpoint("GET")
def workflow_detail(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """The workflow's status, its steps (or members) and its callback."""
    try:
        status = workflow_status(workflow_id)
    except WorkflowDoesNotExist:
        raise ApiError(404, f"No workflow with id {workflow_id[:100]!r}") from None
    return JsonResponse(status.as_dict())


def workflow_url(record: ResultRecord) -> str:
    """The API URL of the workflow a task is a step of ('' if none): the dashboard's link."""
    workflow_id = record.envelope.get("workflow")
    if not valid_id(workflow_id):
        return ""
    return reverse("taskqueue:workflow-detail", args=[workflow_id])
