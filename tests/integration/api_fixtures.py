"""Users, tokens and recipes shared by the API, command and admin tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from recipe.models import Recipe
from taskqueue.tokens import APIToken

DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def recipe(db):
    return Recipe.objects.create(
        name="Pancakes", ingredients="flour\nmilk\neggs", instructions="Mix. Fry."
    )


@pytest.fixture
def editor(db):
    user = User.objects.create_user("editor", password="pw-editor")
    user.user_permissions.add(
        Permission.objects.get(codename="change_recipe"),
        Permission.objects.get(codename="view_tasks"),  # reads tasks others enqueued
    )
    return user


@pytest.fixture
def reader(db):
    return User.objects.create_user("reader", password="pw-reader")


@pytest.fixture
def editor_token(editor):
    return APIToken.issue(editor, "tests")[1]


@pytest.fixture
def reader_token(reader):
    return APIToken.issue(reader, "tests")[1]


@pytest.fixture
def token_client(editor_token):
    return Client(headers={"Authorization": f"Token {editor_token}"})


@pytest.fixture
def redis_down(settings, key_prefix):
    """Point the default backend at a port where no Redis listens."""
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {**tasks["default"]["OPTIONS"], "REDIS_URL": DOWN_URL}
    settings.TASKS = tasks
    return DOWN_URL
