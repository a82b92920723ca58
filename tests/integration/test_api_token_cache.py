"""The per-process token cache: no query when cached, never stale after a change.

Every change goes through the same path as in production: a model signal
clears this process's cache and replaces the auth stamp in Redis, which a
second cache (standing for another web process) sees at its next lookup.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from taskqueue.tokens import APIToken, hash_key
from taskqueue.web import tokencache
from tests.integration.api_fixtures import *  # noqa: F403
from tests.integration.test_api import assert_json_error, post_json

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_cache():
    tokencache.default_cache.clear()
    yield
    tokencache.default_cache.clear()


def enqueue(client, recipe):
    return post_json(client, "/api/tasks/", {"recipe_id": recipe.pk})


def client_for(key):
    return Client(headers={"Authorization": f"Token {key}"})


def test_a_cached_token_request_costs_only_the_recipe_query(
    token_client, recipe, broker
):
    with CaptureQueriesContext(connection) as first:
        assert enqueue(token_client, recipe).status_code == 202
    # The token with its user, user and group permissions, last_used_at, the recipe.
    assert len(first.captured_queries) == 5, first.captured_queries
    with CaptureQueriesContext(connection) as cached:
        assert enqueue(token_client, recipe).status_code == 202
    assert len(cached.captured_queries) == 1, cached.captured_queries
    assert "recipe_recipe" in cached.captured_queries[0]["sql"]
    assert broker.stats("default").pending == 2


def test_a_revoked_token_is_refused_at_once(token_client, recipe, editor, broker):
    assert enqueue(token_client, recipe).status_code == 202
    APIToken.objects.get(user=editor).delete()
    assert_json_error(enqueue(token_client, recipe), 401)


def test_a_removed_permission_is_refused_at_once(token_client, recipe, editor, broker):
    assert enqueue(token_client, recipe).status_code == 202
    editor.user_permissions.remove(Permission.objects.get(codename="change_recipe"))
    assert_json_error(enqueue(token_client, recipe), 403)


def test_a_granted_permission_is_accepted_at_once(reader, reader_token, recipe, broker):
    client = client_for(reader_token)
    assert_json_error(enqueue(client, recipe), 403)  # cached without it
    reader.user_permissions.add(Permission.objects.get(codename="change_recipe"))
    assert enqueue(client, recipe).status_code == 202


def test_a_group_losing_a_permission_is_refused_at_once(
    reader, reader_token, recipe, broker
):
    group = Group.objects.create(name="cooks")
    group.permissions.add(Permission.objects.get(codename="change_recipe"))
    reader.groups.add(group)
    client = client_for(reader_token)
    assert enqueue(client, recipe).status_code == 202
    group.permissions.clear()
    assert_json_error(enqueue(client, recipe), 403)


def test_a_user_leaving_a_group_or_a_deleted_group_is_refused_at_once(
    reader, reader_token, recipe, broker
):
    group = Group.objects.create(name="cooks")
    group.permissions.add(Permission.objects.get(codename="change_recipe"))
    reader.groups.add(group)
    client = client_for(reader_token)
    assert enqueue(client, recipe).status_code == 202
    group.delete()  # its m2m rows go without m2m_changed
    assert_json_error(enqueue(client, recipe), 403)


def test_a_deactivated_user_is_refused_at_once(token_client, recipe, editor, broker):
    assert enqueue(token_client, recipe).status_code == 202
    editor.is_active = False
    editor.save()
    assert_json_error(enqueue(token_client, recipe), 401)


def test_another_process_sees_the_revocation(editor, editor_token, broker):
    other = tokencache.TokenCache()  # another web process's cache
    key_hash = hash_key(editor_token)
    assert tokencache.caller(key_hash, cache=other) is not None
    with CaptureQueriesContext(connection) as cached:
        assert tokencache.caller(key_hash, cache=other).pk == editor.pk
    assert cached.captured_queries == []  # answered from its cache
    stamp = broker.auth_stamp()

    APIToken.objects.get(user=editor).delete()  # clears this process's cache only

    assert broker.auth_stamp() != stamp
    assert len(other) == 1  # nobody told it directly
    assert tokencache.caller(key_hash, cache=other) is None


def test_a_change_inside_a_transaction_is_announced_again_on_commit(editor, broker):
    with transaction.atomic():
        editor.user_permissions.clear()
        during = broker.auth_stamp()
    # Another process may have cached the old rows under ``during``.
    assert broker.auth_stamp() not in (during, None)


def test_a_login_announces_nothing(editor, broker):
    tokencache.caller(hash_key(APIToken.issue(editor)[1]))
    stamp = broker.auth_stamp()
    editor.save(update_fields=["last_login"])
    assert broker.auth_stamp() == stamp
    assert len(tokencache.default_cache) == 1


def test_each_request_gets_its_own_user(editor, editor_token, broker):
    key_hash = hash_key(editor_token)
    first = tokencache.caller(key_hash)
    first.first_name = "changed by a view"
    second = tokencache.caller(key_hash)
    assert second is not first
    assert second.first_name == ""
    assert second.has_perm("recipe.change_recipe")


def test_zero_seconds_turns_the_cache_off(settings, token_client, recipe, broker):
    settings.TASKQUEUE_TOKEN_CACHE_SECONDS = 0
    assert enqueue(token_client, recipe).status_code == 202
    with CaptureQueriesContext(connection) as again:
        assert enqueue(token_client, recipe).status_code == 202
    assert len(again.captured_queries) == 4  # token, 2 x permissions, recipe
    assert len(tokencache.default_cache) == 0


def test_with_redis_down_tokens_are_read_from_the_database(
    editor_token, recipe, redis_down
):
    client = client_for(editor_token)
    assert_json_error(enqueue(client, recipe), 503)  # auth passed, enqueue failed
    assert len(tokencache.default_cache) == 0
    assert_json_error(client_for("not-a-token").get("/api/queues/"), 401)
