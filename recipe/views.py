"""Recipe endpoints of the JSON API: enqueue ``process_recipe`` over HTTP.

``POST /api/tasks/`` takes the original system's payload, ``{"recipe_id": 5}``,
so an old producer can move from RPUSH to HTTP without changing its message.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, router
from django.http import HttpRequest, HttpResponse

from recipe.models import Recipe
from recipe.tasks import process_recipe
from taskqueue.web.endpoint import accepted, endpoint, read_json
from taskqueue.web.errors import ApiError

ENQUEUE_PERMISSION = "recipe.change_recipe"
MAX_ID = 2**63 - 1  # the largest primary key any supported database stores


def recipe_id_from(payload: Any) -> int:
    """The positive integer ``recipe_id`` of a request body, or ApiError 400.

    As JSON Schema's ``integer`` does, a number with a zero fraction
    (``5.0``) is an integer: JSON does not tell them apart, and many
    producers (JavaScript, anything that went through a double) send one.
    """
    if not isinstance(payload, dict):
        raise ApiError(400, 'The body must be a JSON object like {"recipe_id": 5}')
    if "recipe_id" not in payload:
        raise ApiError(400, "recipe_id is required")
    value = payload["recipe_id"]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "recipe_id must be an integer")
    if not 0 < value <= MAX_ID:
        raise ApiError(400, "recipe_id must be a positive integer")
    return int(value)


def recipe_exists(recipe_id: int) -> bool:
    """Whether the recipe row exists: the 404 the API promises for an unknown id.

    Run as SQL the ORM compiled once per database: compiling
    ``Recipe.objects.filter(pk=...).exists()`` anew cost more than the
    enqueue itself (bench/load_api.py); the query is the same. On SQLite and
    PostgreSQL it goes straight to the driver's connection, which Django has
    opened (a Django cursor, its wrappers and its placeholder rewrite cost
    30-50 µs of a request that costs about 800): unless something watches
    Django's queries (``connection.execute_wrappers``, DEBUG's query log) or
    the connection is in a broken transaction, where Django's own cursor runs
    it and says so.
    """
    using = router.db_for_read(Recipe)
    connection = connections[using]
    sql = _exists_sql(using)
    direct = _DRIVER_PARAMS.get(connection.vendor)
    if direct is None or connection.execute_wrappers or connection.queries_logged:
        return _exists_through_django(connection, sql, recipe_id)
    connection.ensure_connection()
    if connection.needs_rollback or connection.connection is None:
        return _exists_through_django(connection, sql, recipe_id)
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql.replace("%s", direct), (recipe_id,))
            return cursor.fetchone() is not None
        finally:
            cursor.close()


# The driver's own placeholder, for the vendors whose connection is used directly.
_DRIVER_PARAMS = {"sqlite": "?", "postgresql": "%s"}


def _exists_through_django(connection: Any, sql: str, recipe_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(sql, [recipe_id])
        return cursor.fetchone() is not None


@functools.cache
def _exists_sql(using: str) -> str:
    query = Recipe.objects.using(using).filter(pk=1).values("pk").order_by()[:1].query
    sql, params = query.get_compiler(using).as_sql()
    if tuple(params) != (1,) or str(sql).count("%s") != 1 or "%%" in str(sql):
        raise AssertionError(f"unexpected parameters {params!r} in {sql!r}")
    return str(sql)


def _enqueue(request: HttpRequest, recipe_id: int) -> HttpResponse:
    if not recipe_exists(recipe_id):
        raise ApiError(404, f"Recipe {recipe_id} does not exist")
    return accepted(request, process_recipe.enqueue(recipe_id=recipe_id))


@endpoint("POST", permission=ENQUEUE_PERMISSION)
def process(request: HttpRequest, recipe_id: int) -> HttpResponse:
    """Queue one recipe for processing; 202 with the task's status URL."""
    if recipe_id > MAX_ID:
        raise ApiError(404, f"Recipe {recipe_id} does not exist")
    return _enqueue(request, recipe_id)


@endpoint("POST", permission=ENQUEUE_PERMISSION)
def create_task(request: HttpRequest) -> HttpResponse:
    """Queue a recipe from the original system's ``{"recipe_id": N}`` payload."""
    return _enqueue(request, recipe_id_from(read_json(request)))
