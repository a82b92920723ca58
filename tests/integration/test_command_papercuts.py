"""Console and CLI papercuts: usage errors, limits, pipes, bad ids and URLs, help."""

from __future__ import annotations

import io
import os
import subprocess
from argparse import ArgumentTypeError

import pytest
from django.core.management import call_command, get_commands, load_command_class

from recipe.models import Recipe
from taskqueue.management.commands._common import EXIT_BROKEN_PIPE, finite_seconds
from tests.conftest import ROOT, manage
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)

OURS = ("queuestats", "deadletters", "workerhealth", "createapitoken",
        "enqueue_recipes", "runworker")  # fmt: skip


def one_line_error(proc, text):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def three_dead(broker):
    k = broker.keys("default")
    for n in range(3):
        broker.client.hset(k.dead, f"d{n}", b'{"reason": "bad", "at": 1700000000}')
        broker.client.zadd(k.dead_index, {f"d{n}": n})


def test_deadletters_without_an_action_lists_the_actions(run_command, broker):
    line = one_line_error(run_command("deadletters"), "give an action")
    for action in ("list", "requeue", "purge"):
        assert action in line


def test_deadletters_list_limit_says_how_many_there_are(three_dead, backend):
    out = io.StringIO()
    call_command("deadletters", "list", "--limit", "1", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[-1] == "showing 1 of 3 dead letter(s)"
    call_command("deadletters", "list", stdout=(out := io.StringIO()))
    assert out.getvalue().splitlines()[-1] == "3 dead letter(s)"


@pytest.mark.parametrize("limit", ["0", "-2"])
def test_deadletters_list_refuses_a_limit_below_one(run_command, broker, limit):
    proc = run_command("deadletters", "list", "--limit", limit)
    assert proc.returncode != 0
    assert "must be at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [("queuestats",), ("deadletters", "list"), ("workerhealth",),
     ("createapitoken", "editor")],
)  # fmt: skip
def test_a_closed_stdout_pipe_ends_a_command_quietly(argv, worker_env, editor, broker):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already gone
    try:
        proc = subprocess.run(
            manage(*argv), env=worker_env, cwd=ROOT, stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode in (EXIT_BROKEN_PIPE, 1, 2), proc.stderr


def test_enqueue_recipes_refuses_an_id_no_database_can_hold(run_command, broker):
    proc = run_command("enqueue_recipes", "99999999999999999999999")
    assert proc.returncode != 0
    assert "is not a recipe id" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("url", "text"),
    [("redis://127.0.0.1:abc/0", "a port is not a number"),
     ("redis://127.0.0.1:99999/0", "a port is not a number"),
     ("redis://[::1/0", "Invalid IPv6 URL"),
     ("http://127.0.0.1:6379/0", "unsupported Redis URL scheme 'http'"),
     ("redis+cluster://127.0.0.1:1,127.0.0.1:2", "Redis is unavailable")],
)  # fmt: skip
def test_a_malformed_or_unreachable_redis_url_is_a_one_line_error(
    run_command, url, text
):
    proc = run_command("queuestats", env={"REDIS_URL": url, "TEST_REDIS_URL": url})
    one_line_error(proc, text)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "-1"])
def test_seconds_options_refuse_non_finite_and_negative_values(raw):
    with pytest.raises(ArgumentTypeError):
        finite_seconds(raw)
    assert finite_seconds("2.5") == 2.5
    assert finite_seconds("0") == 0.0


def test_runworker_refuses_grace_nan(run_command, broker):
    proc = run_command("runworker", "--burst", "--grace", "nan")
    assert proc.returncode != 0
    assert "--grace" in proc.stderr
    assert "finite" in proc.stderr


@pytest.mark.parametrize("name", OURS)
def test_every_option_of_our_commands_has_help(name):
    command = load_command_class(get_commands()[name], name)
    parser = command.create_parser("manage.py", name)
    missing = [
        action.dest for action in parser._actions
        if not action.help and action.dest != "help"
    ]  # fmt: skip
    assert missing == []


def test_enqueue_recipes_draws_a_plain_bar_on_a_terminal(broker):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    recipes = [Recipe.objects.create(name=f"r{i}", ingredients="a", instructions="b")
               for i in range(3)]  # fmt: skip
    out, err = Terminal(), Terminal()
    call_command(
        "enqueue_recipes", *(str(r.pk) for r in recipes), "--batch-size", "2",
        stdout=out, stderr=err,
    )  # fmt: skip
    assert "\r[" in out.getvalue()
    assert "3/3" in out.getvalue()
    assert "\x1b[" not in out.getvalue()  # no ANSI colour
    assert err.getvalue() == ""


def test_a_failed_task_logs_no_stray_nonetype_line(run_command, broker):
    from tests import tasks

    tasks.permanent_failure.enqueue()

    proc = run_command("runworker", "--burst")

    assert proc.returncode == 0, proc.stderr
    assert "Task id=" in proc.stderr  # Django's task_finished log line is there
    assert "NoneType: None" not in proc.stderr
