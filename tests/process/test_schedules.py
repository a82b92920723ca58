"""Schedules on real worker processes: once per tick across workers, kills, skewed
clocks; overlap; catch-up across a gap with no worker; a bad schedule at start-up.

Runs are recorded by tests.tasks.scheduled_run in ``<prefix>test:runs`` ("id
start end"); each run's tick is read from its result record.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import time
from collections import Counter
from typing import Any

import pytest

from taskqueue.results import ResultRecord
from tests.conftest import wait_until

pytestmark = pytest.mark.process
TASK = "tests.tasks.scheduled_run"


def env_for(schedules: dict[str, Any], **extra: str) -> dict[str, str]:
    return {"TQ_TEST_SCHEDULES": json.dumps(schedules), **extra}


def runs(broker, key_prefix):
    """[(task id, start, end)] of the runs so far."""
    rows = broker.client.lrange(f"{key_prefix}test:runs", 0, -1)
    return [(i, float(a), float(b)) for i, a, b in (r.decode().split() for r in rows)]


def schedule_of(broker, task_id):
    stored = broker.result_record(task_id, ["default"])
    return ResultRecord.parse(*stored).envelope["schedule"]


def state(broker, name):
    (s,) = broker.schedule_states([(name, "default")])
    return s


def fired_ticks(broker, key_prefix):
    """tick -> how many distinct tasks ran for it."""
    ids = {task_id for task_id, _, _ in runs(broker, key_prefix)}
    return Counter(schedule_of(broker, i)["tick"] for i in ids)


def test_three_workers_and_a_kill_fire_each_tick_once(start_worker, broker, key_prefix):
    env = env_for({"s": {"task": TASK, "every": 1}})
    workers = [start_worker("--name", f"w{i}", env=env) for i in range(3)]
    wait_until(lambda: len(runs(broker, key_prefix)) >= 3, timeout=20)
    first = time.time()
    # The schedule fires meanwhile; the kill lands mid-way through the 20 s.
    wait_until(lambda: time.time() - first > 8, timeout=20, interval=0.2)
    workers[0].signal(signal.SIGKILL)
    killed_at = time.time()
    workers[0].wait(timeout=10)
    workers.append(start_worker("--name", "replacement", env=env))
    wait_until(lambda: "Scheduler started" in workers[-1].output, timeout=20)
    wait_until(lambda: time.time() - first > 20, timeout=30, interval=0.2)
    for worker in workers[1:]:
        worker.signal(signal.SIGTERM)
        worker.wait(timeout=15)
    wait_until(
        lambda: (
            state(broker, "s").counts["fired"] == len(fired_ticks(broker, key_prefix))
        ),
        timeout=10,
    )
    ticks = fired_ticks(broker, key_prefix)
    span = range(int(min(ticks)), int(max(ticks)) + 1)
    lost = [t for t in span if t not in ticks]
    sys.stdout.write(  # the figures, for pytest -s
        f"\nevery 1 s, 3 workers, one SIGKILLed at {killed_at:.1f}: {len(span)} ticks "
        f"elapsed, {len(ticks)} fired, lost {lost}, runs {len(runs(broker, key_prefix))}, "
        f"most tasks for one tick {max(ticks.values())}\n"
    )
    assert max(ticks.values()) == 1, "a tick ran as two tasks"
    assert len(lost) <= 1
    assert len(span) >= 19


def test_clocks_skewed_3s_either_way_still_fire_each_tick_once(
    start_worker, broker, key_prefix
):
    schedules = {"s": {"task": TASK, "every": 1}}
    for skew in ("3", "-3"):
        start_worker(
            "--name", f"skew{skew}", env=env_for(schedules, TQ_TEST_CLOCK_SKEW=skew)
        )
    wait_until(lambda: len(runs(broker, key_prefix)) >= 6, timeout=25)
    ticks = fired_ticks(broker, key_prefix)
    span = range(int(min(ticks)), int(max(ticks)) + 1)
    assert max(ticks.values()) == 1
    assert [t for t in span if t not in ticks] == []
    for task_id, _, _ in runs(broker, key_prefix):  # never early on the server's clock
        record = ResultRecord.parse(*broker.result_record(task_id, ["default"]))
        assert record.started_at.timestamp() >= record.envelope["schedule"]["tick"]


def test_overlap_false_never_runs_two_at_once_and_counts_skips(
    start_worker, broker, key_prefix
):
    env = env_for(
        {
            "slow": {
                "task": TASK,
                "every": 1,
                "overlap": False,
                "kwargs": {"seconds": 1.5},
            }
        }
    )
    start_worker("--name", "a", env=env)
    start_worker("--name", "b", env=env)
    wait_until(lambda: len(runs(broker, key_prefix)) >= 2, timeout=25)
    done = sorted(runs(broker, key_prefix), key=lambda r: r[1])
    for (_, _, end), (_, start, _) in itertools.pairwise(done):
        assert start >= end - 0.05, "a second run started while the first ran"
    assert state(broker, "slow").counts["skipped:overlap"] >= 2


def test_catch_up_false_skips_and_true_runs_once_across_a_gap(
    start_worker, broker, key_prefix
):
    env = env_for({
        "skips": {"task": TASK, "every": 1},
        "catches": {"task": TASK, "every": 1, "catch_up": True},
    })  # fmt: skip
    first = start_worker("--name", "first", env=env)
    wait_until(
        lambda: (
            state(broker, "catches").counts["fired"] >= 1
            and state(broker, "skips").counts["fired"] >= 1
        ),
        timeout=20,
    )
    first.signal(signal.SIGTERM)
    first.wait(timeout=15)
    stopped = time.time()
    wait_until(lambda: time.time() - stopped >= 5, timeout=10, interval=0.2)  # the gap
    second = start_worker("--name", "second", env=env)

    def caught_up() -> list[dict[str, Any]]:
        marks = [schedule_of(broker, i) for i, _, _ in runs(broker, key_prefix)]
        return [m for m in marks if m.get("catch_up")]

    wait_until(
        lambda: caught_up() and state(broker, "skips").counts["skipped:missed"],
        timeout=20,
    )
    time.sleep(1.5)  # a second catch-up run, if there were one, would be in by now
    second.signal(signal.SIGTERM)
    second.wait(timeout=15)
    caught = caught_up()
    assert len(caught) == 1
    assert caught[0]["name"] == "catches"
    assert caught[0]["tick"] > stopped + 3  # the gap's last tick
    for name in ("skips", "catches"):
        assert state(broker, name).counts["skipped:missed"] >= 4


def test_a_bad_schedule_stops_the_start_naming_it(run_command):
    result = run_command(
        "runworker", "--burst",
        env=env_for({"nightly": {"task": "tests.tasks.nope", "cron": "0 3 * * *"}}),
    )  # fmt: skip
    assert result.returncode == 1
    assert "schedule 'nightly': unknown task 'tests.tasks.nope'" in result.stderr


def test_pause_resume_and_run_from_the_command_reach_a_running_worker(
    start_worker, broker, key_prefix, settings
):
    from io import StringIO

    from django.core.management import call_command

    schedules = {"s": {"task": TASK, "every": 1}}
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"],
        "SCHEDULES": schedules,
    }
    settings.TASKS = tasks
    start_worker("--name", "w", env=env_for(schedules))
    wait_until(lambda: state(broker, "s").counts["fired"] >= 1, timeout=20)
    call_command("schedules", "pause", "s", stdout=StringIO())
    wait_until(lambda: state(broker, "s").counts["skipped:paused"] >= 2, timeout=10)
    fired_while_paused = state(broker, "s").counts["fired"]
    out = StringIO()
    call_command("schedules", "run", "s", stdout=out)
    manual = out.getvalue().split()[-1]
    wait_until(
        lambda: manual in {i for i, _, _ in runs(broker, key_prefix)}, timeout=10
    )
    assert (
        state(broker, "s").counts["fired"] == fired_while_paused + 1
    )  # the manual run only
    call_command("schedules", "resume", "s", stdout=StringIO())
    wait_until(
        lambda: state(broker, "s").counts["fired"] >= fired_while_paused + 2, timeout=10
    )


def test_each_prefork_child_runs_the_scheduler_and_each_tick_fires_once(
    start_worker, broker, key_prefix
):
    worker = start_worker(
        "--pool", "prefork", "-c", "2", env=env_for({"s": {"task": TASK, "every": 1}})
    )
    wait_until(lambda: len(runs(broker, key_prefix)) >= 4, timeout=25)
    assert worker.output.count("Scheduler started") == 2
    assert max(fired_ticks(broker, key_prefix).values()) == 1
