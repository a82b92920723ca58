"""The JSON API through Django's test client, against real Redis and DB."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver

from recipe.models import Recipe
from taskqueue.compat import TaskResultStatus
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


def post_json(client, url, body, **extra):
    return client.post(url, body, content_type="application/json", **extra)


def assert_json_error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    assert body["error"]
    return body["error"]


def test_process_recipe_answers_202_and_pushes_one_message(
    token_client, recipe, broker
):
    response = token_client.post(f"/api/recipes/{recipe.pk}/process/")

    assert response.status_code == 202
    body = response.json()
    assert body["status_url"].endswith(f"/api/tasks/{body['task_id']}/")
    assert broker.stats("default").pending == 1
    status = token_client.get(body["status_url"]).json()
    assert status["status"] == TaskResultStatus.READY
    assert status["kwargs"] == {"recipe_id": recipe.pk}


def test_process_unknown_recipe_is_404(token_client, broker):
    error = assert_json_error(token_client.post("/api/recipes/999/process/"), 404)
    assert "999" in error
    assert broker.stats("default").pending == 0


def test_tasks_accepts_the_original_payload(token_client, recipe, broker):
    response = post_json(token_client, "/api/tasks/", {"recipe_id": recipe.pk})

    assert response.status_code == 202
    assert set(response.json()) == {"task_id", "status_url"}
    assert broker.stats("default").pending == 1


def test_tasks_with_an_unknown_recipe_is_404(token_client, broker):
    assert_json_error(
        post_json(token_client, "/api/tasks/", {"recipe_id": 424242}), 404
    )


@pytest.mark.parametrize(
    "body",
    [{}, {"recipe_id": "5"}, {"recipe_id": 1.5}, {"recipe_id": 0}, {"recipe_id": -3},
     {"recipe_id": True}, {"recipe_id": None}, [5], {"recipe_id": 2**70}],
)  # fmt: skip
def test_tasks_refuses_a_bad_recipe_id_with_400(token_client, broker, body):
    assert_json_error(post_json(token_client, "/api/tasks/", body), 400)
    assert broker.stats("default").pending == 0


def test_tasks_refuses_a_body_that_is_not_json_content_with_415(token_client, broker):
    response = token_client.post(
        "/api/tasks/", "recipe_id=5", content_type="text/plain"
    )
    assert "application/json" in assert_json_error(response, 415)


def test_tasks_refuses_a_json_body_that_does_not_parse_with_400(token_client, broker):
    response = token_client.post(
        "/api/tasks/", b"{'recipe_id': 5}", content_type="application/json"
    )
    assert "not valid JSON" in assert_json_error(response, 400)


def test_tasks_refuses_a_body_over_the_limit_with_413(token_client, broker, settings):
    settings.TASKQUEUE_MAX_BODY_BYTES = 100
    big = {"recipe_id": 1, "pad": "x" * 200}
    assert "100-byte" in assert_json_error(
        post_json(token_client, "/api/tasks/", big), 413
    )


def test_tasks_refuses_a_declared_length_over_the_limit_with_413(token_client, broker):
    response = token_client.post(
        "/api/tasks/", b"{}", content_type="application/json", CONTENT_LENGTH="70000"
    )
    assert_json_error(response, 413)


def test_default_body_limit_is_64_kib(token_client, broker, recipe):
    body = '{"recipe_id": %d, "pad": "%s"}'
    ok = body % (recipe.pk, "x" * (65536 - len(body) - 10))
    assert post_json(token_client, "/api/tasks/", ok).status_code == 202
    too_big = body % (recipe.pk, "x" * 65536)
    assert_json_error(post_json(token_client, "/api/tasks/", too_big), 413)


@pytest.mark.parametrize(
    "case",
    [("get", "/api/tasks/", "POST"), ("put", "/api/recipes/1/process/", "POST"),
     ("post", "/api/queues/", "GET, HEAD"), ("delete", "/api/tasks/abc/", "GET, HEAD")],
)  # fmt: skip
def test_other_methods_are_405_json_with_allow(token_client, case):
    method, url, allow = case
    response = getattr(token_client, method)(url)
    assert_json_error(response, 405)
    assert response["Allow"] == allow


def test_unknown_api_paths_are_404_json(token_client, client):
    assert_json_error(token_client.get("/api/nothing/here/"), 404)
    assert_json_error(client.post("/api/tasks"), 404)


def test_unknown_task_id_is_404(token_client, broker):
    assert_json_error(token_client.get("/api/tasks/deadbeef/"), 404)


@pytest.mark.usefixtures("broker")
def test_task_status_shows_return_value_and_errors_after_a_worker_ran(
    token_client, recipe, run_command
):
    gone = Recipe.objects.create(name="Gone", ingredients="x", instructions="y")
    ok = token_client.post(f"/api/recipes/{recipe.pk}/process/").json()
    failed = token_client.post(f"/api/recipes/{gone.pk}/process/").json()
    gone.delete()

    proc = run_command("runworker", "--burst", "--pool", "solo")
    assert proc.returncode == 0, proc.stderr

    done = token_client.get(ok["status_url"]).json()
    assert done["status"] == "SUCCESSFUL"
    assert done["return_value"]["recipe_id"] == recipe.pk
    assert done["attempts"] == 1
    assert done["errors"] == []
    assert done["started_at"]
    assert done["finished_at"]
    bad = token_client.get(failed["status_url"]).json()
    assert bad["status"] == "FAILED"
    assert "return_value" not in bad
    error = bad["errors"][0]
    assert error["exception"]["class"].endswith("DoesNotExist")
    assert "does not exist" in error["exception"]["str"]
    assert "Traceback" in error["traceback"]


def test_queues_lists_every_configured_queue(token_client, recipe, broker):
    token_client.post(f"/api/recipes/{recipe.pk}/process/")

    body = token_client.get("/api/queues/").json()

    assert [q["name"] for q in body["queues"]] == ["default", "high"]
    assert body["queues"][0] == {"name": "default", "pending": 1, "in_flight": 0,
                                 "scheduled": 0, "dead": 0, "paused": False}  # fmt: skip
    assert body["workers"] == []


def test_healthz_is_200_when_database_and_redis_answer(client, broker):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


@pytest.mark.usefixtures("redis_down")
def test_redis_down_is_503_json_everywhere(token_client, recipe, client):
    assert_json_error(token_client.post(f"/api/recipes/{recipe.pk}/process/"), 503)
    assert_json_error(
        post_json(token_client, "/api/tasks/", {"recipe_id": recipe.pk}), 503
    )
    assert_json_error(token_client.get("/api/queues/"), 503)
    assert_json_error(token_client.get("/api/tasks/abc/"), 503)
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["database"] == "ok"
    assert health.json()["redis"].startswith("down")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_schema_is_openapi_and_describes_every_api_route(client):
    schema = client.get("/api/schema/").json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]

    import recipe.urls
    import taskqueue.urls

    routes = [*_routes(recipe.urls.urlpatterns), *_routes(taskqueue.urls.urlpatterns)]
    assert len(routes) >= 5
    for route in routes:
        path = "/api/" + route.replace("<int:", "{").replace("<str:", "{").replace(
            ">", "}"
        )
        assert path in schema["paths"], path
    assert "/healthz" in schema["paths"]
    refs = str(schema).count("#/components/schemas/")
    assert refs
    assert all(
        name in schema["components"]["schemas"]
        for name in ("Error", "Accepted", "TaskResult", "Queues")
    )


@pytest.mark.parametrize("task_id", ["0f" * 16, "a-b_c.d", "needs quoting é", "x%2F"])
def test_the_status_path_is_what_reverse_gives_under_any_script_prefix(task_id):
    from django.urls import get_script_prefix, reverse, set_script_prefix

    from taskqueue.web.endpoint import task_detail_path

    before = get_script_prefix()
    try:
        for prefix in ("/", "/site/"):
            set_script_prefix(prefix)
            expected = reverse("taskqueue:task-detail", args=[task_id])
            assert task_detail_path(task_id) == expected
            assert expected.startswith(prefix)
    finally:
        set_script_prefix(before)


@pytest.mark.parametrize("host", ["testserver", "127.0.0.1:8000"])
def test_the_status_url_is_what_build_absolute_uri_gives(host, rf, settings):
    from taskqueue.compat import TaskResultStatus as Status
    from taskqueue.web.endpoint import accepted, task_detail_path

    settings.ALLOWED_HOSTS = [host.split(":")[0]]
    request = rf.post("/api/tasks/", HTTP_HOST=host)
    result = type("R", (), {"id": "0f" * 16, "status": Status.READY})()

    response = accepted(request, result)

    expected = request.build_absolute_uri(task_detail_path(result.id))
    assert response["Location"] == expected
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
