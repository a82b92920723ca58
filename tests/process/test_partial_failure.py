"""Faults just outside the crash suites: each produced for real (issue 14)."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from recipe.models import Recipe
from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import TcpProxy

OUTAGE = 3.0  # seconds; a task's retries (none here) would be spent at once

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def processed_total() -> int:
    return sum(Recipe.objects.values_list("processed_count", flat=True))


@pytest.mark.postgres
def test_a_database_outage_spends_no_attempt_and_loses_no_task(start_worker):
    """The database unreachable for seconds under load: every task runs once."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the CI's PostgreSQL legs")
    recipes = Recipe.objects.bulk_create(
        [Recipe(name=f"P{i}", ingredients="a", instructions="b") for i in range(300)]
    )
    results = enqueue_many(tasks.count_once, [((r.id,), {}) for r in recipes])
    s = connection.settings_dict
    proxy = TcpProxy(int(s["PORT"] or 5432))
    url = f"postgres://{s['USER'] or ''}@127.0.0.1:{proxy.port}/{s['NAME']}"
    try:
        worker = start_worker(env={"DATABASE_URL": url})
        wait_until(lambda: processed_total() >= 30, timeout=60)
        proxy.cut()
        wait_until(lambda: "Database unavailable" in worker.output, timeout=30)
        cut_at = processed_total()
        time.sleep(OUTAGE)  # the fault's length, not a wait for a condition
        proxy.restore()
        wait_until(lambda: processed_total() == 300, timeout=120)
    finally:
        proxy.close()

    assert cut_at < 300
    assert set(Recipe.objects.values_list("processed_count", flat=True)) == {1}
    statuses = {tasks.count_once.get_result(r.id).status for r in results}
    assert statuses == {TaskResultStatus.SUCCESSFUL}
    assert worker.output.count("Database unavailable") == 1
    assert "Database is back" in worker.output
