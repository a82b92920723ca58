"""The control options' rules: what @options(...) and TASK_OPTIONS accept and refuse."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskqueue import taskoptions
from taskqueue.conf import QueueOptions
from taskqueue.policy import options
from taskqueue.taskoptions import limits_for


def key_of(args, kwargs) -> str:
    return str(args)


def plain() -> None:
    pass


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"unique_for": 0}, "'unique_for' must be a number of seconds"),
        ({"unique_for": "10"}, "'unique_for' must be"),
        ({"unique_for": True}, "'unique_for' must be"),
        ({"unique_for": 10**9}, "'unique_for' must be"),
        (
            {"unique_key": "not callable", "unique_for": 1},
            "'unique_key' must be a callable",
        ),
        ({"unique_key": key_of}, "'unique_key' needs 'unique_for'"),
        ({"rate_limit": "20"}, "'rate_limit' must be a string"),
        ({"rate_limit": "0/s"}, "'rate_limit' must be"),
        ({"rate_limit": "5/d"}, "'rate_limit' must be"),
        ({"rate_limit": 20}, "'rate_limit' must be"),
        ({"concurrency": 0}, "'concurrency' must be a whole number"),
        ({"concurrency": 2.0}, "'concurrency' must be"),
    ],
)
def test_the_decorator_refuses_bad_values_naming_the_task_and_key(values, message):
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        options(**values)(plain)
    assert "test_task_options.plain" in str(caught.value)


def test_every_rule_has_a_check_and_says_what_it_must_be():
    for name, rule in taskoptions.RULES.items():
        assert callable(rule.check), name
        assert rule.must_be, name


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "TASK_OPTIONS must be a dict"),
        ({"app.tasks.fn": {"rate": "1/s"}}, "task app.tasks.fn: unknown option 'rate'"),
        (
            {"app.tasks.fn": {"concurrency": -1}},
            "task app.tasks.fn: option 'concurrency'",
        ),
        ({"app.tasks.fn": "1/s"}, "TASK_OPTIONS\\['app.tasks.fn'\\] must be a dict"),
        ({"fn": {"concurrency": 1}}, "must be a task's dotted path"),
        (
            {"a.b": {"unique_key": "no.such.module.key"}},
            "task a.b: option 'unique_key': cannot import",
        ),
        (
            {"a.b": {"unique_key": "taskqueue.conf.MiB"}},
            "'unique_key' must be a callable",
        ),
    ],
)
def test_settings_refuse_unknown_keys_and_bad_values_at_start_up(table, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        QueueOptions.from_options({"TASK_OPTIONS": table})


def test_settings_override_the_decorator_key_by_key():
    decorated = options(rate_limit="10/s", concurrency=3)(lambda: None)
    path = "tests.unit.test_task_options.decorated"
    config = QueueOptions.from_options(
        {"TASK_OPTIONS": {path: {"concurrency": 1, "unique_for": 5,
                                 "unique_key": "tests.unit.test_task_options.key_of"}}}
    )  # fmt: skip

    limits = limits_for(path, decorated, config.task_options)

    assert limits is not None
    assert (limits.interval, limits.concurrency, limits.unique_for) == (0.1, 1, 5)
    assert limits.unique_key is key_of


def test_a_task_without_options_has_no_limits():
    assert limits_for("tests.unit.test_task_options.plain", plain, {}) is None


@pytest.mark.parametrize(
    ("rate", "seconds"), [("2/s", 0.5), ("30/m", 2.0), ("1/h", 3600.0)]
)
def test_a_rate_is_the_time_between_starts(rate, seconds):
    assert taskoptions.interval(rate) == seconds
