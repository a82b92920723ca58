"""#144's timeout options: names, equivalents and bad values."""

from __future__ import annotations

import pytest

from taskqueue.conf import QueueOptions
from taskqueue.exceptions import TaskTimeout, TimeLimitExceeded
from taskqueue.policy import options, policy_for


def f() -> None: ...


def test_task_timeout_is_a_timeout_error_and_the_hard_stop_is_one():
    assert issubclass(TaskTimeout, TimeoutError)
    assert issubclass(TimeLimitExceeded, TaskTimeout)
    assert str(TimeLimitExceeded()) == "task ran over its time limit"


def test_timeout_is_time_limit_and_soft_timeout_rides_beside_it():
    policy = policy_for(options(timeout=30, soft_timeout=25)(f), QueueOptions())

    assert policy.time_limit == 30.0
    assert policy.soft_timeout == 25.0
    assert policy_for(options(time_limit=30)(f), QueueOptions()).time_limit == 30.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, "timeout must be a number of seconds above 0"),
        ({"timeout": -1}, "timeout must be"),
        ({"timeout": "30"}, "timeout must be"),
        ({"timeout": True}, "timeout must be"),
        ({"timeout": float("nan")}, "timeout must be"),
        ({"timeout": float("inf")}, "timeout must be"),
        ({"soft_timeout": 0}, "soft_timeout must be"),
        ({"timeout": 5, "soft_timeout": 5}, "shorter than timeout"),
        ({"time_limit": 5, "soft_timeout": 6}, "shorter than timeout"),
        ({"timeout": 5, "time_limit": 5}, "not both"),
    ],
)
def test_bad_timeouts_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        options(**kwargs)
