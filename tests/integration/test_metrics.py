"""Prometheus metrics: record() per outcome, Redis gauges, /metrics, the worker server."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from datetime import timedelta

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from taskqueue import metrics
from taskqueue.outcomes import Failed, Poison, RetryLater, Succeeded
from taskqueue.protocol import Envelope
from taskqueue.web import metrics as served
from taskqueue.web.dashboard import throughput
from tests import tasks
from tests.conftest import ROOT, wait_until
from tests.helpers import free_port
from tests.integration.api_fixtures import *  # noqa: F403

# record() ----


@pytest.fixture
def events():
    """A registry with only the event series: reading it needs no Redis."""
    registry = CollectorRegistry()
    for metric in metrics.EVENT_METRICS:
        registry.register(metric)
    return registry


@pytest.fixture
def task_name():
    return f"tests.metrics.t{secrets.token_hex(4)}"  # fresh series for each test


def envelope(task: str, attempt: int = 1) -> Envelope:
    return Envelope(
        id=secrets.token_hex(8), task=task, args=[], kwargs={}, queue="default",
        attempt=attempt,
    )  # fmt: skip


def total(registry, task, status):
    value = registry.get_sample_value(
        "taskqueue_tasks_total", {"task": task, "status": status}
    )
    return value or 0.0


def statuses(registry, task):
    return {status: total(registry, task, status) for status in metrics.STATUSES}


def test_a_success_counts_once_and_observes_its_duration(events, task_name):
    metrics.record(Succeeded(envelope(task_name), b"1", duration=0.2))
    metrics.record(Succeeded(envelope(task_name), b"1", duration=3.0))

    assert statuses(events, task_name) == {
        "succeeded": 2, "failed": 0, "retried": 0, "dead_lettered": 0,
    }  # fmt: skip
    labels = {"task": task_name}
    assert events.get_sample_value("taskqueue_task_duration_seconds_count", labels) == 2
    assert events.get_sample_value("taskqueue_task_duration_seconds_sum", labels) == 3.2
    le_half = {**labels, "le": "0.5"}
    assert (
        events.get_sample_value("taskqueue_task_duration_seconds_bucket", le_half) == 1
    )


def test_a_failure_counts_as_failed_and_is_timed(events, task_name):
    metrics.record(Failed(envelope(task_name), b"{}", duration=0.5, summary="boom"))

    assert statuses(events, task_name)["failed"] == 1
    assert statuses(events, task_name)["succeeded"] == 0
    count = events.get_sample_value(
        "taskqueue_task_duration_seconds_count", {"task": task_name}
    )
    assert count == 1


def test_a_retry_counts_as_retried_and_as_a_retry(events, task_name):
    metrics.record(RetryLater(envelope(task_name), b"{}", delay=1.0, summary="again"))

    assert statuses(events, task_name) == {
        "succeeded": 0, "failed": 0, "retried": 1, "dead_lettered": 0,
    }  # fmt: skip
    retries = events.get_sample_value(
        "taskqueue_task_retries_total", {"task": task_name}
    )
    assert retries == 1
    count = events.get_sample_value(
        "taskqueue_task_duration_seconds_count", {"task": task_name}
    )
    assert count == 0  # a retried attempt has no duration to observe


def test_poison_counts_as_dead_lettered_with_an_unknown_task(events):
    queue = f"q{secrets.token_hex(3)}"
    before = total(events, metrics.UNKNOWN, "dead_lettered")

    metrics.record(Poison("not json"), queue=queue)
    metrics.record(Poison("redelivered 5 times", "abc"), queue=queue)

    assert total(events, metrics.UNKNOWN, "dead_lettered") == before + 2
    dead = events.get_sample_value("taskqueue_dead_lettered_total", {"queue": queue})
    assert dead == 2


# Redis gauges ----


def gauge(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def dead_letter_one(broker) -> None:
    """A dead-letter index entry, written directly: the gauge is ZCARD of the index."""
    broker.client.zadd(broker.keys("default").dead_index, {"d1": time.time()})


def hold_in_flight(broker, raw: bytes) -> None:
    """A message in a live consumer's in-flight list, as a claim leaves it."""
    broker.heartbeat(["default"], "c1")
    broker.client.rpush(broker.keys("default").inflight("c1"), raw)


def beat(broker, name: str, at: float) -> None:
    broker.set_worker(name, orjson.dumps({"name": name, "heartbeat_at": at}))


@pytest.mark.django_db(transaction=True)
def test_the_collector_reads_queue_states_and_live_workers(broker):
    dead_letter_one(broker)
    tasks.add.enqueue(1, 2)
    hold_in_flight(broker, b'{"held": 1}')
    tasks.add.using(run_after=timedelta(hours=1)).enqueue(5, 6)
    now = time.time()
    beat(broker, "solo-worker", now)
    beat(broker, "forked/101", now)
    beat(broker, "forked/102", now - 0.5)
    beat(broker, "killed", now - 3600)  # left behind by a SIGKILL
    broker.set_worker("garbled", b"not json")
    registry = CollectorRegistry()
    registry.register(served.QueueCollector())

    name = "taskqueue_queue_messages"
    assert gauge(registry, name, queue="default", state="pending") == 1
    assert gauge(registry, name, queue="default", state="in_flight") == 1
    assert gauge(registry, name, queue="default", state="scheduled") == 1
    assert gauge(registry, name, queue="default", state="dead") == 1
    for state in served.STATES:
        assert gauge(registry, name, queue="high", state=state) == 0
    assert gauge(registry, "taskqueue_workers") == 2
    assert gauge(registry, "taskqueue_worker_processes") == 3
    assert gauge(registry, "taskqueue_broker_up") == 1


def test_a_scrape_with_redis_down_reports_broker_down(redis_down):
    registry = CollectorRegistry()
    registry.register(served.QueueCollector())

    assert gauge(registry, "taskqueue_broker_up") == 0
    assert gauge(registry, "taskqueue_workers") is None


# /metrics view ----


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops", password="pw-ops", is_staff=True)


on_committed_db = pytest.mark.django_db(transaction=True)


@on_committed_db
@pytest.mark.usefixtures("broker")
def test_anonymous_is_401_and_a_non_staff_session_is_403(client, reader):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    bad_token = Client(headers={"Authorization": "Token nope"}).get("/metrics")
    assert bad_token.status_code == 401

    client.force_login(reader)
    assert client.get("/metrics").status_code == 403
    assert client.post("/metrics").status_code == 405


def assert_exposition(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert "# TYPE taskqueue_queue_messages gauge" in text
    assert "# TYPE taskqueue_tasks_total counter" in text
    return text


@on_committed_db
def test_a_staff_session_gets_the_text_format(client, staff, broker):
    tasks.add.enqueue(1, 1)
    metrics.record(Succeeded(envelope("tests.metrics.view"), b"2", duration=0.01))
    client.force_login(staff)

    text = assert_exposition(client.get("/metrics"))

    assert 'taskqueue_queue_messages{queue="default",state="pending"} 1.0' in text
    assert 'taskqueue_tasks_total{status="succeeded",task="tests.metrics.view"}' in text
    assert "taskqueue_broker_up 1.0" in text


@on_committed_db
@pytest.mark.usefixtures("broker")
def test_an_api_token_gets_the_text_format(reader_token):
    client = Client(headers={"Authorization": f"Token {reader_token}"})

    assert_exposition(client.get("/metrics"))


# worker side ----


@pytest.mark.usefixtures("broker")
def test_start_http_server_serves_the_same_exposition():
    port = free_port()
    server, thread = served.start_http_server(port, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as reply:
            text = reply.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert "taskqueue_broker_up 1.0" in text
    assert "# TYPE taskqueue_task_duration_seconds histogram" in text


FORKED = textwrap.dedent(
    """
    import os, django
    django.setup()
    from taskqueue import metrics
    from taskqueue.web import metrics as served
    from taskqueue.protocol import Envelope
    from taskqueue.outcomes import Succeeded

    print(metrics.clear_multiprocess_dir(), "stale")
    env = Envelope(id="x", task="tests.forked", args=[], kwargs={}, queue="default")
    metrics.record(Succeeded(env, b"1", 0.1))  # the parent, before forking
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            for _ in range(3):
                metrics.record(Succeeded(env, b"1", 0.1))
            os._exit(0)
        os.waitpid(pid, 0)
    body, _ = served.render()
    print(body.decode())
    """
)


def test_multiprocess_mode_adds_up_the_counts_of_forked_children(worker_env, tmp_path):
    (tmp_path / "counter_999.db").write_bytes(b"")  # a previous run's file
    env = {**worker_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    proc = subprocess.run(
        [sys.executable, "-c", FORKED], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 stale")
    series = 'taskqueue_tasks_total{status="succeeded",task="tests.forked"} 7.0'
    assert series in proc.stdout
    assert 'taskqueue_queue_messages{queue="default",state="pending"} 0.0' in (
        proc.stdout
    )


# a prefork worker's endpoint and the site's, after real work ----


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 (loopback)
        return reply.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from an exposition (labels in any order), or None."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


FINISHED = {  # (task, status) -> count, for the work done below
    ("tests.tasks.add", "succeeded"): 3,
    ("tests.tasks.always_fails", "retried"): 2,
    ("tests.tasks.always_fails", "failed"): 1,
    (metrics.UNKNOWN, "dead_lettered"): 1,
}


def counts_in(text: str, name: str) -> dict[tuple[str, str], float | None]:
    return {
        (task, status): sample(text, name, task=task, status=status)
        for task, status in FINISHED
    }


def expected() -> dict[tuple[str, str], float]:
    return {key: float(n) for key, n in FINISHED.items()}


@on_committed_db
def test_a_prefork_worker_and_the_site_serve_task_counts_with_no_setup(
    start_worker, broker, client, staff, tmp_path
):
    # Given a prefork worker with --metrics-port and no PROMETHEUS_MULTIPROC_DIR
    port = free_port()
    worker = start_worker(
        "--pool", "prefork", "--concurrency", "2", "--metrics-port", str(port),
        env={"TMPDIR": str(tmp_path)},  # where it makes its multiprocess directory
    )  # fmt: skip

    # When it runs successes, retries, a failure and a poison message
    for i in range(3):
        tasks.add.enqueue(i, i)
    tasks.always_fails.enqueue("boom")
    broker.push_raw("default", b"not json at all")

    # Then its own endpoint (loopback only) counts what its children did
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: _scraped(url, "taskqueue_tasks_total") == expected(), timeout=30)
    assert f"Metrics on http://127.0.0.1:{port}/metrics" in worker.output
    assert list(tmp_path.glob("taskqueue-metrics-*/*.db"))  # the children's files

    # And one scrape of the site has the fleet's counts, read from Redis
    client.force_login(staff)

    def site() -> dict[tuple[str, str], float | None]:
        return counts_in(client.get("/metrics").content.decode(), FLEET)

    wait_until(lambda: site() == expected(), timeout=30)
    text = scrape(url)
    assert counts_in(text, FLEET) == expected()  # the worker serves them too

    # And they are the dashboard chart's numbers
    chart = throughput(broker)
    assert sum(p["succeeded"] for p in chart) == 3
    assert sum(p["retried"] for p in chart) == 2
    assert sum(p["failed"] for p in chart) == 2  # the failure and the poison

    # And the multiprocess directory goes away with the worker
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.output
    assert not list(tmp_path.glob("taskqueue-metrics-*"))


FLEET = "taskqueue_fleet_tasks_total"


def _scraped(url: str, name: str) -> dict[tuple[str, str], float | None] | None:
    try:
        return counts_in(scrape(url), name)
    except OSError:
        return None  # not listening yet
