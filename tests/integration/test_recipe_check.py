"""The API's recipe check (recipe.views.recipe_exists) on the driver's connection,
and through Django's cursor whenever something watches Django's queries."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test.utils import CaptureQueriesContext

from recipe.models import Recipe
from recipe.views import recipe_exists

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def recipe():
    return Recipe.objects.create(name="Soup", ingredients="water", instructions="Boil.")


def test_it_tells_an_existing_recipe_from_an_unknown_one(recipe):
    assert recipe_exists(recipe.pk)
    assert not recipe_exists(recipe.pk + 1000)
    connection.close()  # a closed connection is opened again, as Django would
    assert recipe_exists(recipe.pk)


def test_an_execute_wrapper_sees_the_query(recipe):
    seen = []

    def watcher(execute, sql, params, many, context):
        seen.append(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watcher):
        assert recipe_exists(recipe.pk)
        assert not recipe_exists(recipe.pk + 1000)

    assert seen == [[recipe.pk], [recipe.pk + 1000]]


def test_the_debug_query_log_records_it(recipe):
    with CaptureQueriesContext(connection) as queries:
        assert recipe_exists(recipe.pk)

    assert len(queries) == 1
    assert "recipe_recipe" in queries[0]["sql"]


def test_a_broken_transaction_gets_djangos_error(recipe):
    with transaction.atomic():
        connection.set_rollback(True)
        with pytest.raises(DatabaseError):  # TransactionManagementError
            recipe_exists(recipe.pk)
