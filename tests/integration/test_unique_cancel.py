"""A cancelled unique task lets its key go, wherever the cancel finds it."""

from __future__ import annotations

import pytest

import taskqueue
from taskqueue.compat import TaskResultStatus
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_unique_task_cancelled_while_queued_frees_its_key(backend):
    first = tasks.unique_by_first.enqueue(41)

    assert taskqueue.cancel(first.id) is True

    again = tasks.unique_by_first.enqueue(41)
    assert again.id != first.id
    assert tasks.unique_by_first.get_result(first.id).status == TaskResultStatus.FAILED
