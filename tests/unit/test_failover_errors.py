"""What a failover answers is an outage (back off, retry), never a task error."""

from __future__ import annotations

import pytest
import redis

from taskqueue.exceptions import BrokerError, BrokerUnavailable
from taskqueue.store.errors import translate_errors


def raising(exc: Exception):
    @translate_errors
    def call() -> None:
        raise exc

    return call


@pytest.mark.parametrize(
    "exc",
    [
        redis.exceptions.MovedError("3999 127.0.0.1:6381"),
        redis.exceptions.AskError("3999 127.0.0.1:6381"),
        redis.exceptions.ClusterDownError("The cluster is down"),
        redis.exceptions.TryAgainError("Multiple keys request during rehashing"),
        redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
        redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.exceptions.MasterDownError("Link with MASTER is down"),
        redis.ResponseError("FAILOVER a failover is in progress"),
        redis.ResponseError(
            "UNBLOCKED force unblock from blocking operation, instance state "
            "changed (master -> replica?)"
        ),
        redis.ResponseError(
            "Error running script (call to f_1): @user_script:12: READONLY You "
            "can't write against a read only replica."
        ),
        redis.ConnectionError("Connection refused"),
    ],
)
def test_failover_replies_are_outages(exc):
    with pytest.raises(BrokerUnavailable):
        raising(exc)()


def test_other_error_replies_stay_errors():
    wrong = redis.ResponseError(
        "WRONGTYPE Operation against a key holding the wrong kind"
    )
    with pytest.raises(BrokerError):
        raising(wrong)()
    # A word that merely contains a code is not one.
    with pytest.raises(BrokerError):
        raising(redis.ResponseError("ERR NOFAILOVER is not a code"))()
