"""queuestats, deadletters, createapitoken and enqueue_recipes as real processes."""

from __future__ import annotations

import orjson
import pytest

from recipe.models import Recipe
from taskqueue.tokens import APIToken, hash_key
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)

DOWN_ENV = {"REDIS_URL": DOWN_URL, "TEST_REDIS_URL": DOWN_URL}  # noqa: F405


@pytest.fixture
def dead_ids(broker, run_command):
    """Two poison messages, dead-lettered by a real worker."""
    broker.push_raw("default", b"not json at all")
    broker.push_raw("default", b'{"unknown": "shape"}')
    proc = run_command("runworker", "--burst", "--pool", "solo")
    assert proc.returncode == 0, proc.stderr
    return broker.dead_letter_ids("default")


def assert_one_line_error(proc, text):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert text in lines[0]


@pytest.mark.usefixtures("broker")
def test_queuestats_json_is_what_the_api_shows(run_command, token_client, recipe):
    token_client.post(f"/api/recipes/{recipe.pk}/process/")

    proc = run_command("queuestats", "--json")

    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout) == token_client.get("/api/queues/").json()


def test_queuestats_prints_a_table(broker, run_command):
    proc = run_command("queuestats")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].split() == [
        "name", "pending", "in_flight", "scheduled", "dead"
    ]  # fmt: skip
    assert "0 live worker(s)" in proc.stdout


def test_queuestats_with_redis_down_is_a_one_line_error(broker, run_command):
    assert_one_line_error(
        run_command("queuestats", env=DOWN_ENV), "Redis is unavailable"
    )


def test_deadletters_list_shows_reason_and_preview(dead_ids, run_command):
    proc = run_command("deadletters", "list")
    assert proc.returncode == 0, proc.stderr
    assert "not json at all" in proc.stdout
    assert "2 dead letter(s)" in proc.stdout
    assert all(dead_id in proc.stdout for dead_id in dead_ids)


def test_deadletters_requeue_one_puts_it_back_on_the_queue(
    dead_ids, broker, run_command
):
    proc = run_command("deadletters", "requeue", dead_ids[0], "--queue", "default")

    assert proc.returncode == 0, proc.stderr
    assert "Requeued 1 dead letter(s)" in proc.stdout
    assert broker.dead_letter_ids("default") == dead_ids[1:]
    assert broker.stats("default").pending == 1


def test_deadletters_purge_all_empties_the_list(dead_ids, broker, run_command):
    proc = run_command("deadletters", "purge", "--all")

    assert proc.returncode == 0, proc.stderr
    assert "Purged 2 dead letter(s)" in proc.stdout
    assert broker.stats("default").dead == 0
    assert broker.stats("default").pending == 0


@pytest.mark.parametrize(
    ("args", "text"),
    [(("requeue",), "ids or --all"), (("purge", "nope"), "Unknown dead-letter ids: nope"),
     (("list", "--queue", "nosuch"), "Unknown queue 'nosuch'")],
)  # fmt: skip
@pytest.mark.usefixtures("broker")
def test_deadletters_bad_input_is_a_one_line_error(run_command, args, text):
    assert_one_line_error(run_command("deadletters", *args), text)


def test_createapitoken_prints_a_working_key_once(editor, run_command, client):
    proc = run_command("createapitoken", "editor", "--name", "ci")

    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip()
    token = APIToken.objects.get(user=editor)
    assert token.key_hash == hash_key(key)
    assert token.name == "ci"
    assert key not in proc.stderr


def test_createapitoken_for_an_unknown_user_fails(db, run_command):
    assert_one_line_error(
        run_command("createapitoken", "ghost"), "No user named 'ghost'"
    )


def test_enqueue_recipes_queues_the_given_ids(broker, run_command):
    recipes = [Recipe.objects.create(name=f"r{i}", ingredients="a", instructions="b")
               for i in range(3)]  # fmt: skip

    proc = run_command("enqueue_recipes", *(str(r.pk) for r in recipes))

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Queued 3 recipes for processing on queue 'default'."
    assert proc.stderr == ""  # no progress bar when stdout is not a terminal
    assert broker.stats("default").pending == 3


def test_enqueue_recipes_all_in_batches(broker, run_command):
    Recipe.objects.bulk_create(
        Recipe(name=f"r{i}", ingredients="a", instructions="b") for i in range(25)
    )
    proc = run_command("enqueue_recipes", "--all", "--batch-size", "10")
    assert proc.returncode == 0, proc.stderr
    assert "25/25" not in proc.stdout + proc.stderr
    assert broker.stats("default").pending == 25


def test_enqueue_recipes_with_unknown_ids_queues_nothing(broker, run_command, recipe):
    proc = run_command("enqueue_recipes", str(recipe.pk), "9999", "8888")
    assert_one_line_error(proc, "Unknown recipe ids: 9999, 8888 (nothing was queued)")
    assert broker.stats("default").pending == 0


@pytest.mark.parametrize("args", [(), ("--all", "1"), ("abc",), ("0",)])
def test_enqueue_recipes_bad_arguments_fail(broker, run_command, args):
    proc = run_command("enqueue_recipes", *args)
    assert proc.returncode != 0
    assert proc.stderr.strip()


def test_enqueue_recipes_with_redis_down_is_a_one_line_error(recipe, run_command):
    proc = run_command("enqueue_recipes", str(recipe.pk), env=DOWN_ENV)
    assert_one_line_error(proc, "Redis is unavailable at redis://127.0.0.1:1/0")
