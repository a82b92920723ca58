"""Hostile input against a real worker: no message or task stops it or costs
another message its outcome (issue 13's reproductions, each as it was found)."""

from __future__ import annotations

import orjson
import pytest

from recipe.models import Recipe
from taskqueue.compat import TaskResultStatus
from taskqueue.protocol import Envelope
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import dead_reasons

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def recipes(count: int) -> list[Recipe]:
    return [
        Recipe.objects.create(name=f"R{i}", ingredients="a\nb", instructions="Stir.")
        for i in range(count)
    ]


def hostile_envelope(**fields: object) -> bytes:
    body = orjson.loads(
        Envelope(id="h1", task="tests.tasks.add", args=[1, 2], kwargs={},
                 queue="default", enqueued_at=1.0).encode()
    )  # fmt: skip
    return orjson.dumps({**body, **fields})


def assert_nothing_left(broker) -> None:
    stats = broker.stats("default")
    assert (stats.pending, stats.in_flight) == (0, 0)
    assert broker.client.hlen(broker.keys("default").ready) == 0
    assert broker.client.hlen(broker.keys("default").redelivered) == 0


def test_out_of_range_legacy_values_are_poison_and_the_batch_runs_once(
    run_command, broker
):
    healthy = recipes(3)
    hostile = [
        b"{'recipe_id': 100000000000000000000}",
        b"{'recipe_id': -100000000000000000000}",
        b"{'recipe_id': " + b"7" * 4000 + b"}",
        b'{"recipe_id": 1, "x": ' + b'{"a": ' * 255 + b"1" + b"}" * 255 + b"}",
    ]
    for raw, recipe in zip(hostile, [*healthy, None], strict=True):
        broker.push_raw("default", raw)
        if recipe is not None:
            broker.push_raw("default", b'{"recipe_id": %d}' % recipe.id)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    assert list(Recipe.objects.values_list("processed_count", flat=True)) == [1, 1, 1]
    reasons = dead_reasons(broker)
    assert len(reasons) == 4
    assert sum("64-bit" in r for r in reasons) == 3, reasons
    assert any("nested deeper" in r for r in reasons), reasons
    assert_nothing_left(broker)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"attempt": -1}, "attempt is outside"),
        ({"attempt": 10**18}, "attempt is outside"),
        ({"enqueued_at": 1e300}, "enqueued_at is not a time"),
        ({"run_after": -5}, "run_after is not a time"),
        ({"queue": "nowhere"}, "for queue 'nowhere'"),
        ({"v": True}, "unsupported protocol version"),
    ],
)
def test_an_out_of_range_envelope_is_poison_and_its_batch_is_settled(
    run_command, broker, fields, reason
):
    before = [tasks.add.enqueue(1, i) for i in range(3)]
    broker.push_raw("default", hostile_envelope(**fields))
    after = [tasks.add.enqueue(2, i) for i in range(3)]

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    for result in [*before, *after]:
        final = tasks.add.get_result(result.id)
        assert (final.status, final.attempts) == (TaskResultStatus.SUCCESSFUL, 1)
    (dead,) = dead_reasons(broker)
    assert reason in dead
    assert_nothing_left(broker)


@pytest.mark.parametrize("pool", ["solo", "threads", "prefork"])
def test_a_task_that_raises_system_exit_fails_and_the_worker_goes_on(run_command, pool):
    stoppers = [
        (tasks.raises_system_exit, "builtins.SystemExit"),
        (tasks.raises_keyboard_interrupt, "builtins.KeyboardInterrupt"),
        (tasks.raises_generator_exit, "builtins.GeneratorExit"),
        (tasks.calls_exit, "builtins.SystemExit"),
        (tasks.async_raises_system_exit, "builtins.SystemExit"),
        (tasks.returns_unserializable, "builtins.TypeError"),
    ]
    queued = [(task, path, task.enqueue()) for task, path in stoppers]
    last = tasks.add.enqueue(20, 22)

    done = run_command("runworker", "--burst", "--pool", pool, "--concurrency", "1")

    assert done.returncode == 0, done.stderr
    for task, path, result in queued:
        final = task.get_result(result.id)
        assert (final.status, final.attempts) == (TaskResultStatus.FAILED, 1), path
        (error,) = final.errors
        assert error.exception_class_path == path
        assert "Traceback (most recent call last)" in error.traceback
    assert tasks.add.get_result(last.id).return_value == 42


def test_identical_legacy_messages_have_their_own_redelivery_counts(
    start_worker, broker
):
    """25 copies held by a consumer that died: each comes back once, none is dead."""
    from taskqueue.broker import ClaimPolicy

    (recipe,) = recipes(1)
    for _ in range(25):
        broker.push_raw("default", str({"recipe_id": recipe.id}).encode())
    policy = ClaimPolicy(max_batch=100, worker_timeout=60, result_ttl=60)
    held = []
    while batch := broker.claim("default", "ghost", policy).messages:
        held += batch
    assert len(held) == 25
    assert len({m.raw for m in held}) == 25
    broker.client.zadd(broker.keys("default").consumers, {"ghost": 1})  # it died

    worker = start_worker()

    wait_until(lambda: Recipe.objects.get().processed_count == 25, timeout=30)
    assert "Recovered 25 in-flight messages" in worker.output
    assert dead_reasons(broker) == []
    wait_until(lambda: broker.stats("default").in_flight == 0)
    assert broker.client.hlen(broker.keys("default").redelivered) == 0


def test_an_empty_message_is_dead_lettered_by_an_idle_worker(start_worker, broker):
    worker = start_worker()
    wait_until(lambda: "ready" in worker.output.lower() or broker.workers())

    broker.push_raw("default", b"")

    wait_until(lambda: dead_reasons(broker))
    assert dead_reasons(broker) == ["message is not JSON"]
    wait_until(lambda: broker.stats("default").in_flight == 0)
    added = tasks.add.enqueue(1, 1)
    wait_until(lambda: tasks.add.get_result(added.id).status == "SUCCESSFUL")
    assert worker.proc.poll() is None


@pytest.mark.parametrize("pool", ["solo", "threads", "prefork"])
def test_a_server_out_of_memory_is_an_outage_the_worker_outlives(
    start_worker, worker_env, key_prefix, pool
):
    """maxmemory with noeviction: claims, heartbeats and settles are refused."""
    from taskqueue.broker import Broker, Outgoing
    from taskqueue.exceptions import BrokerUnavailable
    from tests.helpers import PrivateRedis

    server = PrivateRedis("--maxmemory-policy", "noeviction").start()
    try:
        broker = Broker.connect(server.url, prefix=key_prefix)
        wait_until(lambda: _pings(broker))
        raws = [hostile_envelope(id=f"oom{i}", attempt=1) for i in range(5)]
        broker.client.rpush(broker.keys("default").pending, *raws)
        broker.client.config_set("maxmemory", 1)  # every write is refused now
        with pytest.raises(BrokerUnavailable, match="Redis refused"):
            broker.enqueue("default", Outgoing(["x"], [raws[0]]))

        worker = start_worker(
            "--pool",
            pool,
            "--concurrency",
            "2",
            env={"REDIS_URL": server.url, "TEST_REDIS_URL": server.url},
        )
        wait_until(lambda: "refused" in worker.output, timeout=15)
        broker.client.config_set("maxmemory", 0)

        wait_until(lambda: _settled(broker, 5), timeout=30)
        assert worker.proc.poll() is None, worker.output[-2000:]
        assert "replacing it" not in worker.output  # no prefork child died
        assert "Traceback" not in worker.output, worker.output[-3000:]
    finally:
        server.kill()


def _pings(broker) -> bool:
    try:
        return broker.ping()
    except Exception:  # noqa: BLE001 (still starting)
        return False


def _settled(broker, count: int) -> bool:
    ids = [f"oom{i}" for i in range(count)]
    records = broker.stored("default", ids, ["status"])
    return [record.get(b"status") for record, _ in records] == [b"SUCCESSFUL"] * count
