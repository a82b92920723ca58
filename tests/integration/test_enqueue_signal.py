"""task_enqueued reaches receivers and log levels as they are at each enqueue."""

from __future__ import annotations

import logging

import django
import pytest

from taskqueue.compat import task_enqueued
from tests import tasks

pytestmark = pytest.mark.django_db


def test_a_receiver_connected_after_the_first_enqueue_is_sent_the_next(broker):
    tasks.add.enqueue(1, 1)  # decides with Django's silent log receiver only
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append(task_result.id)

    task_enqueued.connect(receiver)
    try:
        result = tasks.add.enqueue(2, 2)
    finally:
        task_enqueued.disconnect(receiver)
    after = tasks.add.enqueue(3, 3)

    assert seen == [result.id]
    assert after.id not in seen


def test_the_enqueue_log_line_follows_the_log_level_of_the_moment(broker, caplog):
    """Django's test_enqueue_logs, after an enqueue made while nothing would log."""
    logger = "django.tasks" if django.VERSION >= (6,) else "django_tasks"
    logging.getLogger(logger).setLevel(logging.WARNING)
    tasks.add.enqueue(1, 1)

    with caplog.at_level(logging.DEBUG, logger=logger):
        result = tasks.add.enqueue(2, 2)

    assert any(
        r.name.startswith(logger) and result.id in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
