"""The per-process token cache: no query when cached, never stale after a change.

Every change goes through the same path as in production: a model signal
clears this process's cache and replaces the auth stamp in Redis, publishing
that it did. This process's listener thread hears it (``listening``: no
Redis command per request); without the listener (``not_listening``, as
while it reconnects) a second cache, standing for another web process, sees
the new stamp at its next lookup.
"""

from __future__ import annotations

import socket
import threading

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from redis.connection import AbstractConnection

from taskqueue.tokens import APIToken, hash_key
from taskqueue.web import authlistener, tokencache
from tests.conftest import wait_until
from tests.integration.api_fixtures import *  # noqa: F403
from tests.integration.test_api import assert_json_error, post_json

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_cache():
    tokencache.default_cache.clear()
    yield
    tokencache.default_cache.clear()


@pytest.fixture
def listening(broker):
    """This process's listener, subscribed: entries are made under its epoch."""
    wait_until(lambda: isinstance(tokencache.current_basis(), int))
    return authlistener.current()


@pytest.fixture
def not_listening(monkeypatch, broker):
    """Requests as while the listener is not subscribed: they read the stamp."""
    monkeypatch.setattr(authlistener, "trusted_epoch", lambda broker, clear: None)


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands this thread writes to any Redis connection, TCP or unix
    socket (packed bytes)."""
    sent: list[bytes] = []
    me = threading.current_thread()
    original = AbstractConnection.send_packed_command

    def spy(self, command, *args, **kwargs):
        if threading.current_thread() is me:
            sent.append(command if isinstance(command, bytes) else b"".join(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", spy)
    return sent


def enqueue(client, recipe):
    return post_json(client, "/api/tasks/", {"recipe_id": recipe.pk})


def client_for(key):
    return Client(headers={"Authorization": f"Token {key}"})


def test_a_cached_token_request_costs_only_the_recipe_query(
    token_client, recipe, broker, listening
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


def test_a_revoked_token_is_refused_at_once(
    token_client, recipe, editor, broker, listening
):
    assert enqueue(token_client, recipe).status_code == 202
    APIToken.objects.get(user=editor).delete()
    assert_json_error(enqueue(token_client, recipe), 401)


def test_a_removed_permission_is_refused_at_once(
    token_client, recipe, editor, broker, listening
):
    assert enqueue(token_client, recipe).status_code == 202
    editor.user_permissions.remove(Permission.objects.get(codename="change_recipe"))
    assert_json_error(enqueue(token_client, recipe), 403)


def test_a_granted_permission_is_accepted_at_once(
    reader, reader_token, recipe, broker, listening
):
    client = client_for(reader_token)
    assert_json_error(enqueue(client, recipe), 403)  # cached without it
    reader.user_permissions.add(Permission.objects.get(codename="change_recipe"))
    assert enqueue(client, recipe).status_code == 202


def cooks_client(reader, reader_token, recipe) -> tuple[Group, Client]:
    """The reader in a group that may enqueue, and its client, cached with it."""
    group = Group.objects.create(name="cooks")
    group.permissions.add(Permission.objects.get(codename="change_recipe"))
    reader.groups.add(group)
    client = client_for(reader_token)
    assert enqueue(client, recipe).status_code == 202
    return group, client


def test_a_group_losing_a_permission_is_refused_at_once(
    reader, reader_token, recipe, broker, listening
):
    group, client = cooks_client(reader, reader_token, recipe)
    group.permissions.clear()
    assert_json_error(enqueue(client, recipe), 403)


def test_a_user_leaving_a_group_or_a_deleted_group_is_refused_at_once(
    reader, reader_token, recipe, broker, listening
):
    group, client = cooks_client(reader, reader_token, recipe)
    group.delete()  # its m2m rows go without m2m_changed
    assert_json_error(enqueue(client, recipe), 403)


def test_a_deactivated_user_is_refused_at_once(
    token_client, recipe, editor, broker, listening
):
    assert enqueue(token_client, recipe).status_code == 202
    editor.is_active = False
    editor.save()
    assert_json_error(enqueue(token_client, recipe), 401)


def test_a_revoked_token_is_refused_at_once_without_the_listener(
    token_client, recipe, editor, broker, not_listening
):
    assert enqueue(token_client, recipe).status_code == 202
    APIToken.objects.get(user=editor).delete()
    assert_json_error(enqueue(token_client, recipe), 401)


def test_without_the_listener_another_process_sees_the_revocation(
    editor, editor_token, broker, not_listening
):
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


def test_a_login_announces_nothing(editor, broker, not_listening):
    tokencache.caller(hash_key(APIToken.issue(editor)[1]))
    stamp = broker.auth_stamp()
    editor.save(update_fields=["last_login"])
    assert broker.auth_stamp() == stamp
    assert len(tokencache.default_cache) == 1


def test_each_request_gets_its_own_user(editor, editor_token, broker, listening):
    key_hash = hash_key(editor_token)
    first = tokencache.caller(key_hash)
    first.first_name = "changed by a view"
    second = tokencache.caller(key_hash)
    assert second is not first
    assert second.first_name == ""
    assert second._state is not first._state
    assert second.has_perm("recipe.change_recipe")
    assert "recipe.change_recipe" in tokencache.cached_permissions(second)
    assert tokencache.cached_permissions(editor) is None  # not one the cache gave out


def test_a_superuser_token_enqueues_without_the_permission_itself(
    recipe, broker, listening
):
    admin = User.objects.create_superuser("root", password="pw-root")
    assert not admin.user_permissions.exists()
    key = APIToken.issue(admin, "tests")[1]
    for _ in range(2):  # the first from the database, the second from the cache
        assert enqueue(client_for(key), recipe).status_code == 202
    admin.is_superuser = False
    admin.save()  # a change of the user: the cache forgets it
    assert_json_error(enqueue(client_for(key), recipe), 403)


def test_zero_seconds_turns_the_cache_off(settings, token_client, recipe, broker):
    settings.TASKQUEUE_TOKEN_CACHE_SECONDS = 0
    assert enqueue(token_client, recipe).status_code == 202
    with CaptureQueriesContext(connection) as again:
        assert enqueue(token_client, recipe).status_code == 202
    assert len(again.captured_queries) == 4  # token, 2 x permissions, recipe
    assert len(tokencache.default_cache) == 0
    assert authlistener.current() is None  # never started


def test_with_redis_down_tokens_are_read_from_the_database(
    editor_token, recipe, redis_down
):
    client = client_for(editor_token)
    assert_json_error(enqueue(client, recipe), 503)  # auth passed, enqueue failed
    assert len(tokencache.default_cache) == 0
    assert_json_error(client_for("not-a-token").get("/api/queues/"), 401)


def test_a_listening_request_makes_no_redis_command(
    editor, editor_token, broker, listening, redis_commands
):
    key_hash = hash_key(editor_token)
    assert tokencache.caller(key_hash).pk == editor.pk
    with CaptureQueriesContext(connection) as cached:
        assert tokencache.caller(key_hash).pk == editor.pk
    assert cached.captured_queries == []
    assert redis_commands == []


def test_a_revocation_in_another_process_reaches_this_one_through_the_listener(
    editor, editor_token, broker, listening, redis_commands, run_command
):
    key_hash = hash_key(editor_token)
    assert tokencache.caller(key_hash).pk == editor.pk
    epoch = listening.epoch
    token_pk = APIToken.objects.get(user=editor).pk

    code = f"from taskqueue.tokens import APIToken; APIToken.objects.get(pk={token_pk}).delete()"
    result = run_command("shell", "-c", code)
    assert result.returncode == 0, result.stderr

    wait_until(lambda: listening.epoch not in (None, epoch))
    assert len(tokencache.default_cache) == 0  # cleared by the listener
    assert tokencache.caller(key_hash) is None  # read from the database
    assert redis_commands == []  # no stamp GET on the way


def test_a_cut_listener_falls_back_to_the_stamp_and_starts_afresh(
    editor, editor_token, broker, listening, redis_commands, monkeypatch
):
    key_hash = hash_key(editor_token)
    assert tokencache.caller(key_hash).pk == editor.pk
    epoch = listening.epoch
    gate = threading.Event()  # holds the resubscription back until the checks
    subscribe = broker.subscribe_auth_changes

    def held(wake_channel):
        gate.wait(10)
        return subscribe(wake_channel)

    monkeypatch.setattr(broker, "subscribe_auth_changes", held)
    # Cut from this side: the test Redis may be on a unix socket (no address
    # to CLIENT KILL by), and TYPE pubsub would cut other tests' subscribers.
    listening._feed._pubsub.connection._sock.shutdown(socket.SHUT_RDWR)

    wait_until(lambda: listening.epoch is None)
    del redis_commands[:]
    assert tokencache.caller(key_hash).pk == editor.pk
    assert any(b"GET" in command for command in redis_commands)  # the stamp
    assert len(tokencache.default_cache) == 1  # an entry under the stamp

    gate.set()
    wait_until(lambda: listening.epoch not in (None, epoch))
    assert len(tokencache.default_cache) == 0  # cleared on resubscribing
    del redis_commands[:]
    with CaptureQueriesContext(connection) as reload:
        assert tokencache.caller(key_hash).pk == editor.pk
    assert len(reload.captured_queries) == 3  # token, 2 x permissions
    assert redis_commands == []


def test_a_forked_process_does_not_trust_its_parents_listener(broker, listening):
    import os

    pid = os.getpid()
    try:
        listening.pid = pid + 1  # as the child sees the parent's listener
        assert tokencache.current_basis() != listening.epoch
        assert authlistener.current() is not listening  # a listener of its own
    finally:
        listening.pid = pid
        listening.stop()


def test_a_listener_that_cannot_connect_logs_no_password(
    settings, key_prefix, editor, editor_token, caplog
):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    url = "redis://:s3cret-pw@127.0.0.1:1/0"  # nothing listens on port 1
    tasks["default"]["OPTIONS"] = {**tasks["default"]["OPTIONS"], "REDIS_URL": url}
    settings.TASKS = tasks
    with caplog.at_level("WARNING", logger="taskqueue.api"):
        assert tokencache.caller(hash_key(editor_token)).pk == editor.pk  # from SQL
        wait_until(lambda: "Auth listener" in caplog.text)
    assert authlistener.current().epoch is None
    assert "s3cret-pw" not in caplog.text
