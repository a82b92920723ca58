"""runworker as a real subprocess: results, legacy messages, poison, banner."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from recipe.models import Recipe
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis, dead_reasons, envelope_bytes

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def make_recipe(name: str = "Soup") -> Recipe:
    return Recipe.objects.create(
        name=name, ingredients="water\nsalt", instructions="Boil for 10 minutes."
    )


def test_burst_runs_sync_and_async_tasks_and_results_are_readable_here(
    run_command, backend
):
    added = tasks.add.enqueue(2, 3)
    multiplied = tasks.async_multiply.enqueue(4, 5)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    assert tasks.add.get_result(added.id).return_value == 5
    result = tasks.async_multiply.get_result(multiplied.id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 20
    assert result.attempts == 1
    assert result.started_at is not None
    assert result.finished_at >= result.started_at
    assert f"task_id={added.id}" in done.stderr


def test_recipe_task_fills_fields_once(run_command):
    recipe = make_recipe()
    from recipe.tasks import process_recipe

    result = process_recipe.enqueue(recipe_id=recipe.id)
    assert run_command("runworker", "--burst").returncode == 0

    recipe.refresh_from_db()
    assert (
        recipe.processed_count,
        recipe.ingredient_count,
        recipe.estimated_minutes,
    ) == (1, 2, 10)
    assert process_recipe.get_result(result.id).status == TaskResultStatus.SUCCESSFUL


def test_a_redelivered_recipe_task_counts_once(run_command, broker):
    recipe = make_recipe()
    from recipe.tasks import process_recipe

    result = process_recipe.enqueue(recipe_id=recipe.id)
    raw = broker.client.lindex(broker.keys("default").pending, 0)
    assert run_command("runworker", "--burst").returncode == 0
    broker.push_raw(
        "default", raw
    )  # the same message again, as after a crash before the ack
    assert run_command("runworker", "--burst").returncode == 0

    recipe.refresh_from_db()
    assert recipe.processed_count == 1
    assert process_recipe.get_result(result.id).return_value == {
        "recipe_id": recipe.id,
        "duplicate": True,
    }


def test_the_original_systems_two_message_forms_are_processed(run_command, broker):
    first, second = make_recipe("One"), make_recipe("Two")
    broker.push_raw("default", b'{"recipe_id": %d}' % first.id)
    broker.push_raw("default", str({"recipe_id": second.id}).encode())

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    assert sorted(Recipe.objects.values_list("processed_count", flat=True)) == [1, 1]
    assert broker.stats("default").dead == 0


def test_every_kind_of_poison_is_dead_lettered_and_the_worker_goes_on(
    run_command, broker, tmp_path: Path
):
    marker = tmp_path / "owned"
    poison = [
        b"\xff\xfe not utf-8",
        b"not json at all",
        b"[1, 2, 3]",
        envelope_bytes("os.system", args=[f"touch {marker}"]),
        envelope_bytes("tests.tasks.add", args=["x"], kwargs={"zzz": 1}, task_id="m2"),
        b'{"recipe_id": "abc"}',
        b'{"recipe_id": 1, "x": "' + b"y" * (1024 * 1024) + b'"}',
    ]
    for raw in poison:
        broker.push_raw("default", raw)
    good = tasks.add.enqueue(1, 1)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    assert tasks.add.get_result(good.id).return_value == 2
    reasons = dead_reasons(broker)
    assert len(reasons) == len(poison)
    for expected in ["not UTF-8", "not JSON", "not an object", "unknown task 'os.system'",
                     "bad arguments for tests.tasks.add", "recipe_id='abc' is not int", "over 1048576"]:  # fmt: skip
        assert any(expected in reason for reason in reasons), (expected, reasons)
    assert not marker.exists()
    assert (broker.stats("default").pending, broker.stats("default").in_flight) == (
        0,
        0,
    )


def test_dead_letters_keep_the_raw_bytes(run_command, broker):
    broker.push_raw("default", b"\x00\xffraw")

    run_command("runworker", "--burst")

    [(dead_id, _entry, raw)] = broker.dead_letters("default")
    assert raw == b"\x00\xffraw"
    assert broker.dead_action("default", "requeue", [dead_id]) == 1
    assert broker.stats("default").pending == 1


def test_the_banner_masks_the_redis_password(run_command):
    server = PrivateRedis("--requirepass", "s3cret-pw").start()
    try:
        url = f"redis://:s3cret-pw@127.0.0.1:{server.port}/0"
        wait_until(lambda: _answers(url))
        done = run_command("runworker", "--burst", env={"REDIS_URL": url})
        wrong = run_command(
            "runworker",
            "--burst",
            env={"REDIS_URL": url.replace("s3cret-pw", "wrong-pw")},
        )
    finally:
        server.kill()

    assert done.returncode == 0, done.stderr
    assert f"redis://:***@127.0.0.1:{server.port}/0" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert wrong.returncode != 0
    assert "wrong-pw" not in wrong.stderr + wrong.stdout


def test_unreachable_redis_is_a_one_line_error(run_command):
    done = run_command(
        "runworker", "--burst", env={"REDIS_URL": "redis://127.0.0.1:1/0"}, timeout=30
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("CommandError: cannot reach Redis at redis://127.0.0.1:1/0")
    )


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


def test_bad_options_are_refused(run_command):
    for args in (
        ["--concurrency", "0"],
        ["--queue", "nowhere"],
        ["--name", "bad name"],
        ["--pool", "gevent"],
    ):
        done = run_command("runworker", "--burst", *args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr, args


def test_started_at_is_when_each_task_of_a_batch_really_started(run_command):
    from taskqueue.backends import enqueue_many

    results = enqueue_many(tasks.sleep_for, [((0.2,), {}) for _ in range(3)])

    assert run_command("runworker", "--burst").returncode == 0

    first, _, last = (tasks.sleep_for.get_result(r.id) for r in results)
    assert last.started_at >= first.finished_at - timedelta(milliseconds=50)
    assert last.finished_at - last.started_at >= timedelta(seconds=0.2)


def test_an_idle_worker_on_two_queues_takes_a_message_from_either(start_worker, broker):
    worker = start_worker("--name", "two-queues")
    wait_until(lambda: "two-queues" in broker.workers())

    low = tasks.add.enqueue(1, 1)
    high = tasks.high_add.enqueue(2, 2)

    wait_until(
        lambda: tasks.add.get_result(low.id).status == TaskResultStatus.SUCCESSFUL
    )
    wait_until(
        lambda: tasks.high_add.get_result(high.id).status == TaskResultStatus.SUCCESSFUL
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert broker.stats("default").in_flight == 0
    assert broker.stats("high").in_flight == 0


def test_an_idle_worker_runs_a_task_deferred_while_it_waits_on_time(
    start_worker, broker
):
    # With a 30 s worker timeout an idle worker claims only every 15 s; the
    # enqueue's wake token must make it learn the new due time at once.
    start_worker(
        "--name", "idle", "--queue", "default", env={"TASKQUEUE_WORKER_TIMEOUT": "30"}
    )
    wait_until(lambda: "idle" in broker.workers())

    deferred = tasks.add.using(run_after=timedelta(seconds=1)).enqueue(2, 2)

    result = wait_until(
        lambda: (r := tasks.add.get_result(deferred.id)).is_finished and r,
        timeout=6,
    )
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.started_at >= result.enqueued_at + timedelta(seconds=0.9)


def test_settled_tasks_leave_no_ready_entries_behind(run_command, broker):
    from taskqueue.backends import enqueue_many

    queued = [
        *enqueue_many(tasks.add, [((i, 1), {}) for i in range(50)]),
        tasks.add.enqueue(1, 1),
        tasks.add.using(priority=5).enqueue(2, 2),
        tasks.fails_once_then_gives_up.enqueue("boom"),
    ]
    ready = broker.keys("default").ready
    assert broker.client.hlen(ready) == len(queued)

    assert run_command("runworker", "--burst").returncode == 0

    assert broker.client.hlen(ready) == 0
    statuses = [r.task.get_result(r.id).status for r in queued]
    assert statuses.count(TaskResultStatus.SUCCESSFUL) == len(queued) - 1
