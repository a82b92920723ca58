"""The Recipe changelist action "Process selected recipes in the background"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client

from recipe.models import Recipe
from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/recipe/recipe/"


@pytest.fixture
def recipes(db):
    return [
        Recipe.objects.create(
            name=f"Soup {i}", ingredients="water", instructions="Boil."
        )
        for i in range(5)
    ]


def run_action(client, pks):
    data = {
        "action": "process_in_background",
        "_selected_action": [str(p) for p in pks],
    }
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_action_pushes_every_selected_recipe_in_one_round_trip(
    admin_client, recipes, broker
):
    calls = []
    original = broker.enqueue

    def counting_enqueue(queue, items):
        calls.append(len(items))
        return original(queue, items)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(broker, "enqueue", counting_enqueue)
        response = run_action(admin_client, [r.pk for r in recipes[:4]])

    assert response.status_code == 200
    assert "Queued 4 recipes for processing" in messages_of(response)
    assert calls == [4]
    assert broker.stats("default").pending == 4


def test_action_is_offered_only_with_change_permission(recipes, broker):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_recipe"))
    client = Client()
    client.force_login(viewer)

    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"process_in_background" not in page.content
    run_action(client, [recipes[0].pk])
    assert broker.stats("default").pending == 0


@pytest.mark.usefixtures("redis_down")
def test_action_with_redis_down_says_so(admin_client, recipes):
    response = run_action(admin_client, [recipes[0].pk])
    assert response.status_code == 200
    assert "Redis is unavailable; nothing was queued." in messages_of(response)


def test_changelist_shows_processing_columns(admin_client, recipes):
    page = admin_client.get(CHANGELIST).content.decode()
    assert "column-processed_count" in page
    assert "column-processed_at" in page
