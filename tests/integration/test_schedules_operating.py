"""Operating schedules: the command (list, pause, resume, run), metrics, the API field."""

from __future__ import annotations

import json
import math
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from prometheus_client import CollectorRegistry

from taskqueue import firing, schedule_status
from taskqueue.backends import backend_for
from taskqueue.results import ResultRecord
from taskqueue.web import metrics as served
from taskqueue.web.api import describe
from tests.integration.api_fixtures import redis_down  # noqa: F401

TASK = "tests.tasks.scheduled_run"
SCHEDULES = {
    "tick": {"task": TASK, "every": 60, "jitter": 30},
    "nightly": {
        "task": TASK,
        "cron": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "overlap": False,
    },
}


@pytest.fixture
def scheduled(settings, key_prefix):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"],
        "SCHEDULES": SCHEDULES,
    }
    settings.TASKS = tasks
    return backend_for()


def command(*args: str) -> str:
    out = StringIO()
    call_command("schedules", *args, stdout=out)
    return out.getvalue()


def fire(backend, name):
    entry = schedule_status.find(backend, name)
    tick = math.floor(backend.broker.server_time() / 60) * 60
    return firing.fire_tick(backend.broker, entry, alias="default", tick=tick, now=tick)


def test_list_shows_every_schedule_with_its_next_and_last_run(scheduled):
    fired = fire(scheduled, "tick")
    rows = json.loads(command("list", "--json"))
    assert [r["name"] for r in rows] == ["tick", "nightly"]
    tick, nightly = rows
    assert (tick["task"], tick["rule"], tick["timezone"], tick["paused"]) == (
        TASK,
        "every 60s",
        "UTC",
        False,
    )
    assert tick["last_run"]["task_id"] == fired.task_id
    assert tick["last_run"]["status"] == "READY"
    assert tick["fired"] == 1
    assert tick["skipped"] == {
        "overlap": 0,
        "paused": 0,
        "missed": 0,
    }
    assert nightly["rule"] == "cron 0 3 * * *"
    assert nightly["timezone"] == "Europe/Berlin"
    assert nightly["next_run"].endswith(
        ("T02:00:00+00:00", "T01:00:00+00:00")
    )  # 03:00 Berlin
    assert nightly["last_run"] is None
    text = command()
    assert f"last={fired.task_id} READY" in text
    assert "nightly  tests.tasks.scheduled_run  cron 0 3 * * *" in text


def test_pause_resume_and_run_from_the_command(scheduled):
    assert command("pause", "tick") == "tick: paused\n"
    assert json.loads(command("list", "--json"))[0]["paused"] is True
    assert fire(scheduled, "tick").outcome == "paused"
    out = command("run", "tick")
    task_id = out.split()[-1]
    stored = scheduled.broker.result_record(task_id, ["default"])
    assert ResultRecord.parse(*stored).schedule["manual"] is True
    assert command("resume", "tick") == "tick: resumed\n"
    assert json.loads(command("list", "--json"))[0]["paused"] is False


@pytest.mark.parametrize(
    ("args", "says"),
    [(("pause", "nope"), "unknown schedule 'nope' (known: tick, nightly)"),
     (("run",), "run needs a schedule name"),
     (("list", "x"), "list takes no schedule name")],
)  # fmt: skip
def test_bad_names_are_command_errors(scheduled, args, says):
    with pytest.raises(
        CommandError, match=says.replace("(", r"\(").replace(")", r"\)")
    ):
        command(*args)


def with_schedules(settings, schedules):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"],
        "SCHEDULES": schedules,
    }
    settings.TASKS = tasks


@pytest.mark.parametrize(
    "args", [("list",), ("pause", "tick"), ("resume", "tick"), ("run", "tick")]
)
@pytest.mark.usefixtures("redis_down")
def test_redis_down_is_a_command_error(settings, args):
    with_schedules(settings, SCHEDULES)
    with pytest.raises(CommandError, match="Redis is unavailable"):
        command(*args)


def test_a_bad_schedule_is_a_command_error(settings, key_prefix):
    with_schedules(settings, {"bad": {"task": "x.y", "every": 1}})
    with pytest.raises(CommandError, match=r"schedule 'bad': unknown task 'x\.y'"):
        command("list")


def test_no_schedules_is_said_plainly(key_prefix):
    assert command() == "No schedules (OPTIONS SCHEDULES or @schedule).\n"
    assert json.loads(command("--json")) == []


def test_metrics_count_fired_and_skipped_by_reason(scheduled):
    fire(scheduled, "tick")
    scheduled.broker.set_schedule_paused("nightly", "default", True)
    entry = schedule_status.find(scheduled, "nightly")
    tick = entry[0].latest(scheduled.broker.server_time())
    firing.fire_tick(
        scheduled.broker, entry, alias="default", tick=tick, now=tick
    )  # late: no history
    registry = CollectorRegistry()
    registry.register(served.ScheduleCollector())
    value = registry.get_sample_value
    assert value("taskqueue_schedule_fired_total", {"schedule": "tick"}) == 1
    assert (
        value(
            "taskqueue_schedule_skipped_total",
            {"schedule": "tick", "reason": "overlap"},
        )
        == 0
    )
    assert value("taskqueue_schedule_fired_total", {"schedule": "nightly"}) == 0


def test_the_api_shows_the_schedule_of_a_run(scheduled):
    fired = fire(scheduled, "tick")
    payload = describe(
        fired.task_id,
        ResultRecord.parse(*scheduled.broker.result_record(fired.task_id, ["default"])),
    )
    assert payload["schedule"]["name"] == "tick"
    assert payload["schedule"]["tick"].endswith(":00+00:00")
    plain = describe(
        "x", ResultRecord.parse({b"msg": b'{"task": "t", "schedule": "garbage"}'})
    )
    assert "schedule" not in plain
