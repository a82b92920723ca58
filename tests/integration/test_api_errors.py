"""HTTP error answers of the API: JSON 500, 400 for bad JSON, 411, 413, integral floats."""

from __future__ import annotations

import logging

import orjson
import pytest
from django.test import RequestFactory

from recipe.models import Recipe
from taskqueue.web import api
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


def assert_json_error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == status
    return response.json()["error"]


def test_an_unexpected_exception_is_a_json_500_logged_once(
    token_client, broker, monkeypatch, caplog
):
    def explode(*args, **kwargs):
        raise RuntimeError("boom in a reader")

    monkeypatch.setattr(api, "queue_overview", explode)

    with caplog.at_level(logging.INFO):
        error = assert_json_error(token_client.get("/api/queues/"), 500)

    assert "Internal server error" in error
    assert "boom" not in error  # details go to the log, not to the client
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info[1].args == ("boom in a reader",)


def test_handler500_answers_json_under_api_and_html_elsewhere():
    factory = RequestFactory()
    response = api.server_error(factory.get("/api/tasks/x/"))
    assert response.status_code == 500
    assert orjson.loads(response.content)["status"] == 500
    page = api.server_error(factory.get("/admin/"))
    assert page.status_code == 500
    assert "text/html" in page["Content-Type"]


def test_malformed_json_is_400(token_client, broker):
    response = token_client.post(
        "/api/tasks/", b'{"recipe_id": ', content_type="application/json"
    )
    assert "not valid JSON" in assert_json_error(response, 400)


def test_a_chunked_body_without_content_length_is_411(token_client, broker, recipe):
    body = orjson.dumps({"recipe_id": recipe.pk})
    response = token_client.generic(
        "POST", "/api/tasks/", body, content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="",
    )  # fmt: skip
    assert "Content-Length" in assert_json_error(response, 411)
    assert broker.stats("default").pending == 0


def test_the_body_limit_applies_to_the_process_endpoint(token_client, broker, recipe):
    response = token_client.post(
        f"/api/recipes/{recipe.pk}/process/",
        b"x" * 200_000,
        content_type="application/octet-stream",
    )
    assert assert_json_error(response, 413)
    assert broker.stats("default").pending == 0


def test_a_float_with_an_integral_value_is_an_integer_recipe_id(token_client, broker):
    recipe = Recipe.objects.create(
        pk=116346, name="n", ingredients="i", instructions="x"
    )
    response = token_client.post(
        "/api/tasks/", b'{"recipe_id": 116346.0}', content_type="application/json"
    )
    assert response.status_code == 202, response.content
    status = token_client.get(response.json()["status_url"]).json()
    assert status["kwargs"] == {"recipe_id": recipe.pk}
    assert isinstance(status["kwargs"]["recipe_id"], int)


@pytest.mark.parametrize("raw", [b"1.5", b"1e300", b"-1.0"])
def test_a_non_integral_or_out_of_range_float_is_still_400(token_client, broker, raw):
    response = token_client.post(
        "/api/tasks/", b'{"recipe_id": ' + raw + b"}", content_type="application/json"
    )
    assert_json_error(response, 400)


def test_the_schema_documents_integral_floats_400_411_and_500(client):
    schema = client.get("/api/schema/").json()
    post = schema["paths"]["/api/tasks/"]["post"]
    recipe_id = post["requestBody"]["content"]["application/json"]["schema"]
    assert recipe_id["properties"]["recipe_id"]["type"] == "integer"
    assert {"400", "411", "413", "415", "500"} <= set(post["responses"])
    process = schema["paths"]["/api/recipes/{recipe_id}/process/"]["post"]
    assert {"411", "413", "500"} <= set(process["responses"])


def test_a_poison_task_never_started(token_client, broker, run_command):
    broker.push_raw("default", b'{"recipe_id": "abc"}')
    assert run_command("runworker", "--burst").returncode == 0
    ((_dead_id, entry, _raw),) = broker.dead_letters("default")
    task_id = orjson.loads(entry)["task_id"]

    body = token_client.get(f"/api/tasks/{task_id}/").json()

    assert body["status"] == "FAILED"
    assert body["attempts"] == 0
    assert body["started_at"] is None
    assert body["last_attempted_at"] is None
    assert body["finished_at"] is not None


def test_healthz_names_a_malformed_redis_url(client, settings, key_prefix):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"], "REDIS_URL": "redis://:pw@127.0.0.1:abc/0",
    }  # fmt: skip
    settings.TASKS = tasks

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["redis"] == "down: REDIS_URL is malformed"
