"""GET /api/tasks/<id>/?wait=<seconds>: a long poll that ends at the settle."""

from __future__ import annotations

import threading
import time

import pytest

from tests import tasks
from tests.inprocess import InProcessWorker
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


def test_wait_answers_once_the_task_is_finished(token_client, broker):
    result = tasks.add.enqueue(2, 2)
    worker = InProcessWorker(broker)

    def settle_later() -> None:
        time.sleep(0.3)
        worker.step()

    thread = threading.Thread(target=settle_later)
    thread.start()
    started = time.monotonic()
    body = token_client.get(f"/api/tasks/{result.id}/?wait=5").json()
    thread.join()
    worker.close()

    assert body["status"] == "SUCCESSFUL"
    assert body["return_value"] == 4
    assert 0.25 < time.monotonic() - started < 2


def test_wait_answers_with_the_current_state_when_it_runs_out(token_client, broker):
    result = tasks.add.enqueue(2, 2)

    started = time.monotonic()
    response = token_client.get(f"/api/tasks/{result.id}/?wait=0.2")

    assert response.status_code == 200
    assert response.json()["status"] == "READY"
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("value", ["-1", "31", "abc", "nan", "inf", ""])
def test_a_bad_wait_is_a_json_400(token_client, broker, value):
    result = tasks.add.enqueue(2, 2)

    response = token_client.get(f"/api/tasks/{result.id}/?wait={value}")

    assert response.status_code == 400
    assert "wait must be" in response.json()["error"]


def test_wait_on_an_unknown_id_is_a_404_at_once(token_client, broker):
    started = time.monotonic()
    response = token_client.get("/api/tasks/nope/?wait=5")

    assert response.status_code == 404
    assert time.monotonic() - started < 1
