"""A unique task whose worker is SIGKILLed keeps its key while it is redelivered,
and lets go once it has run on another worker."""

from __future__ import annotations

import signal

import pytest

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_the_key_outlives_a_sigkilled_holder_until_its_redelivery_settles(
    start_worker, broker
):
    first = tasks.unique_sleep.enqueue(1.0, label="k")
    victim = start_worker("--name", "victim")
    wait_until(
        lambda: (
            tasks.unique_sleep.get_result(first.id).status == TaskResultStatus.RUNNING
        ),
        timeout=20,
    )
    victim.signal(signal.SIGKILL)
    victim.wait(timeout=10)

    assert tasks.unique_sleep.enqueue(1.0, label="k").id == first.id  # pending again
    start_worker("--name", "heir")
    wait_until(
        lambda: (
            tasks.unique_sleep.get_result(first.id).status
            == TaskResultStatus.SUCCESSFUL
        ),
        timeout=20,
    )
    assert tasks.unique_sleep.enqueue(1.0, label="k").id != first.id
