"""API tokens created and revoked in the Django admin (#19): the key shown once."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from taskqueue.tokens import APIToken, hash_key
from tests.integration.api_fixtures import editor  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

ADD = "/admin/taskqueue/apitoken/add/"
LIST = "/admin/taskqueue/apitoken/"


def _key(page: str) -> str:
    match = re.search(r'<code id="tq-token-key"[^>]*>([^<]+)</code>', page)
    assert match, page
    return match.group(1)


def _staff(*codenames: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_add_shows_a_working_key_once_and_stores_only_its_digest(
    admin_client,
    editor,  # noqa: F811
    broker,
):
    response = admin_client.post(ADD, {"user": editor.pk, "name": "ci"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = _key(response.content.decode())
    token = APIToken.objects.get(user=editor)
    assert token.name == "ci"
    assert token.key_hash == hash_key(key)
    assert token.prefix == key[:8]
    assert key not in {token.key_hash, token.name}
    api = Client(headers={"Authorization": f"Token {key}"})
    assert api.get("/api/queues/").status_code == 200

    # Nowhere else: not on its change page, the list, or a later message.
    for url in (f"{LIST}{token.pk}/change/", LIST):
        assert key not in admin_client.get(url).content.decode()


def test_revoking_deletes_the_token_and_its_key_stops_working(
    admin_client,
    editor,  # noqa: F811
    broker,
):
    key = _key(admin_client.post(ADD, {"user": editor.pk}).content.decode())
    token = APIToken.objects.get(user=editor)
    api = Client(headers={"Authorization": f"Token {key}"})
    assert api.get("/api/queues/").status_code == 200

    confirm = admin_client.get(f"{LIST}{token.pk}/delete/")
    assert confirm.status_code == 200
    admin_client.post(f"{LIST}{token.pk}/delete/", {"post": "yes"})

    assert not APIToken.objects.exists()
    assert api.get("/api/queues/").status_code == 401


def test_bad_input_creates_nothing(admin_client, editor):  # noqa: F811
    editor.is_active = False
    editor.save()
    for form in ({"user": editor.pk}, {"user": "abc"}, {"user": 10**9}, {}):
        response = admin_client.post(ADD, form)
        assert response.status_code == 200
        assert b"errornote" in response.content
    assert not APIToken.objects.exists()


def test_only_add_and_delete_permissions_create_and_revoke(editor):  # noqa: F811
    token = APIToken.issue(editor)[0]
    viewer = _staff("view_apitoken")
    assert viewer.get(LIST).status_code == 200
    assert viewer.get(ADD).status_code == 403
    assert viewer.post(ADD, {"user": editor.pk}).status_code == 403
    assert viewer.post(f"{LIST}{token.pk}/delete/", {"post": "yes"}).status_code == 403
    assert APIToken.objects.count() == 1

    User.objects.filter(username="staff").delete()
    adder = _staff("add_apitoken")
    assert adder.post(ADD, {"user": editor.pk}).status_code == 200
    assert adder.post(f"{LIST}{token.pk}/delete/", {"post": "yes"}).status_code == 403
    assert APIToken.objects.count() == 2

    User.objects.filter(username="staff").delete()
    revoker = _staff("view_apitoken", "delete_apitoken")
    assert revoker.post(f"{LIST}{token.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not APIToken.objects.filter(pk=token.pk).exists()

    anonymous = Client()
    assert anonymous.post(ADD, {"user": editor.pk}).status_code == 302  # to the login
    assert APIToken.objects.count() == 1
