"""Who may call the API: tokens, sessions with CSRF, permissions, anonymous."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from taskqueue.tokens import APIToken, hash_key
from tests.integration.api_fixtures import *  # noqa: F403
from tests.integration.test_api import assert_json_error, post_json

pytestmark = pytest.mark.django_db(transaction=True)

CSRF_SECRET = "a" * 32


def test_anonymous_requests_are_401_json(client, recipe, broker):
    for response in (
        client.post(f"/api/recipes/{recipe.pk}/process/"),
        post_json(client, "/api/tasks/", {"recipe_id": recipe.pk}),
        client.get("/api/queues/"),
        client.get("/api/tasks/abc/"),
    ):
        assert_json_error(response, 401)
        assert response["WWW-Authenticate"] == "Token"
    assert broker.stats("default").pending == 0


def test_a_wrong_token_or_scheme_is_401(recipe, broker, editor_token):
    for header in ("Token nope", f"Bearer {editor_token}", "Token "):
        client = Client(headers={"Authorization": header})
        assert_json_error(client.get("/api/queues/"), 401)


def test_a_token_of_an_inactive_user_is_401(editor, editor_token, broker):
    editor.is_active = False
    editor.save()
    client = Client(headers={"Authorization": f"Token {editor_token}"})
    assert_json_error(client.get("/api/queues/"), 401)


def test_tokens_are_stored_hashed_and_record_their_use(editor, editor_token, broker):
    token = APIToken.objects.get(user=editor)
    assert editor_token not in (token.key_hash, token.prefix)
    assert token.key_hash == hash_key(editor_token)
    assert token.last_used_at is None

    Client(headers={"Authorization": f"Token {editor_token}"}).get("/api/queues/")

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_token_without_the_change_permission_can_read_but_not_enqueue(
    reader_token, recipe, broker
):
    client = Client(headers={"Authorization": f"Token {reader_token}"})
    assert client.get("/api/queues/").status_code == 200
    error = assert_json_error(client.post(f"/api/recipes/{recipe.pk}/process/"), 403)
    assert "recipe.change_recipe" in error
    assert broker.stats("default").pending == 0


def test_a_token_post_needs_no_csrf_token(editor_token, recipe, broker):
    client = Client(
        enforce_csrf_checks=True, headers={"Authorization": f"Token {editor_token}"}
    )
    assert client.post(f"/api/recipes/{recipe.pk}/process/").status_code == 202


def test_a_session_post_without_csrf_is_a_json_403(editor, recipe, broker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)

    response = client.post(f"/api/recipes/{recipe.pk}/process/")

    assert "CSRF" in assert_json_error(response, 403)
    assert broker.stats("default").pending == 0


def test_a_session_post_with_csrf_is_accepted(editor, recipe, broker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET

    response = post_json(client, "/api/tasks/", {"recipe_id": recipe.pk},
                         headers={"X-CSRFToken": CSRF_SECRET})  # fmt: skip

    assert response.status_code == 202
    assert broker.stats("default").pending == 1


def test_a_session_get_needs_no_csrf(reader, broker):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)
    assert client.get("/api/queues/").status_code == 200


def test_a_session_user_without_permission_is_403(reader, recipe, broker):
    client = Client()
    client.force_login(reader)
    assert_json_error(client.post(f"/api/recipes/{recipe.pk}/process/"), 403)


def test_the_schema_and_health_need_no_login(client, broker):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/healthz").status_code == 200
