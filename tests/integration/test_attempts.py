"""#142 retries: max_attempts and a backoff(exception, task_result) callable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskqueue.compat import TaskResultStatus
from taskqueue.conf import QueueOptions
from taskqueue.policy import options, policy_for
from tests import tasks
from tests.inprocess import InProcessWorker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(broker):
    tasks.BACKOFF_CALLS.clear()
    w = InProcessWorker(broker)
    yield w
    w.close()


def final(backend, result_id):
    result = backend.get_result(result_id)
    return result if result.is_finished else None


def test_the_backoff_is_called_with_the_exception_and_the_failed_result(
    backend, worker
):
    result = tasks.fails_with_status.enqueue(429)

    stored = worker.run_until(lambda: final(backend, result.id))

    assert stored.status == TaskResultStatus.FAILED
    assert stored.attempts == 2  # retried once, then the backoff said None
    (first_exc, first), (second_exc, second) = tasks.BACKOFF_CALLS
    assert isinstance(first_exc, tasks.Flaky)
    assert first_exc.status == 429
    assert second_exc is not first_exc
    assert first.id == result.id
    assert first.status == TaskResultStatus.FAILED
    assert first.attempts == 1
    assert [e.exception_class_path for e in first.errors] == ["tests.tasks.Flaky"]
    assert second.attempts == 2
    assert len(second.errors) == 2


def test_a_backoff_that_answers_garbage_fails_the_task_without_retrying(
    backend, worker, caplog
):
    result = tasks.fails_with_broken_backoff.enqueue()

    stored = worker.run_until(lambda: final(backend, result.id))

    assert stored.attempts == 1
    assert "returned 'soon', not seconds or None" in caplog.text


def test_max_attempts_one_runs_once(backend, worker):
    result = tasks.fails_with_one_attempt.enqueue()

    assert worker.run_until(lambda: final(backend, result.id)).attempts == 1


def test_max_attempts_is_max_retries_plus_one():
    defaults = QueueOptions()

    def f() -> None: ...

    assert policy_for(options(max_attempts=4)(f), defaults).max_retries == 3
    assert policy_for(options(max_retries=3)(f), defaults).max_retries == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be an int from 1"),
        ({"max_attempts": 1000}, "max_attempts must be an int from 1"),
        ({"max_attempts": "3"}, "max_attempts must be an int"),
        ({"max_attempts": True}, "max_attempts must be an int"),
        ({"backoff": 30}, "backoff must be a callable"),
        ({"max_attempts": 2, "max_retries": 1}, "not both"),
        ({"backoff": tasks.recording_backoff, "retry_backoff": 1.0}, "not both"),
    ],
)
def test_bad_per_task_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        options(**kwargs)


def test_backend_defaults_come_from_the_tasks_entry():
    config = QueueOptions.from_params(
        {"MAX_ATTEMPTS": 7, "BACKOFF": "tests.tasks.recording_backoff"}
    )

    assert config.max_retries == 6
    assert config.backoff is tasks.recording_backoff


def test_a_task_s_own_retry_backoff_beats_the_backend_backoff():
    config = QueueOptions.from_params({"BACKOFF": "tests.tasks.recording_backoff"})

    def f() -> None: ...

    assert policy_for(f, config).backoff is tasks.recording_backoff
    assert policy_for(options(retry_backoff=2.0)(f), config).backoff is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"MAX_ATTEMPTS": 0}, "MAX_ATTEMPTS must be an int from 1"),
        ({"MAX_ATTEMPTS": "5"}, "MAX_ATTEMPTS must be an int"),
        ({"MAX_ATTEMPTS": 3, "OPTIONS": {"MAX_RETRIES": 2}}, "not both"),
        ({"BACKOFF": "tests.tasks.no_such_function"}, "cannot be imported"),
        ({"BACKOFF": "not a path"}, "cannot be imported"),
        ({"BACKOFF": "tests.tasks.BACKOFF_CALLS"}, "must be a callable"),
        ({"BACKOFF": tasks.recording_backoff}, "dotted path"),
    ],
)
def test_bad_backend_defaults_are_improperly_configured(params, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        QueueOptions.from_params(params)


def test_the_system_check_reports_a_bad_max_attempts(settings):
    from taskqueue.checks import check_options

    settings.TASKS = {
        **settings.TASKS,
        "bad": {"BACKEND": "taskqueue.backends.RedisBackend", "MAX_ATTEMPTS": -1},
    }

    errors = check_options()

    assert [e.id for e in errors] == ["taskqueue.E001"]
    assert "MAX_ATTEMPTS" in errors[0].msg
