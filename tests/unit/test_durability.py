"""DURABILITY, MIN_REPLICAS, REPLICATION_TIMEOUT: checked at start-up."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskqueue.conf import QueueOptions
from taskqueue.store.durability import Durability


def test_the_default_is_primary_and_waits_for_nothing():
    options = QueueOptions.from_options({})
    assert options.durability == "primary"
    assert Durability.from_options(options) is None


def test_replicated_waits_for_min_replicas_within_the_timeout():
    options = QueueOptions.from_options(
        {"DURABILITY": "replicated", "MIN_REPLICAS": 2, "REPLICATION_TIMEOUT": 0.25}
    )
    assert Durability.from_options(options) == Durability(replicas=2, timeout_ms=250)
    assert Durability(replicas=2, timeout_ms=250).command() == ("WAIT", 2, 250)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"DURABILITY": "replica"}, "DURABILITY must be one of primary, replicated"),
        ({"DURABILITY": None}, "DURABILITY must be one of"),
        ({"MIN_REPLICAS": 0}, "MIN_REPLICAS must be an integer >= 1"),
        ({"MIN_REPLICAS": "1"}, "MIN_REPLICAS must be an integer >= 1"),
        ({"MIN_REPLICAS": True}, "MIN_REPLICAS must be an integer >= 1"),
        ({"REPLICATION_TIMEOUT": 0}, "REPLICATION_TIMEOUT must be a number"),
        ({"REPLICATION_TIMEOUT": -1}, "REPLICATION_TIMEOUT must be a number"),
        ({"REPLICATION_TIMEOUT": 61}, "REPLICATION_TIMEOUT must be a number"),
        ({"REPLICATION_TIMEOUT": "1"}, "REPLICATION_TIMEOUT must be a number"),
        ({"REPLICATION_TIMEOUT": float("nan")}, "REPLICATION_TIMEOUT must be"),
    ],
)
def test_garbage_is_refused_at_start_up(options, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        QueueOptions.from_options(options)


def test_a_short_wait_reply_is_not_replicated():
    durability = Durability(replicas=2, timeout_ms=10)
    assert durability.short(1)
    assert durability.short(None)
    assert not durability.short(2)
    assert not durability.short(3)
