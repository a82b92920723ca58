"""DEAD_LETTER_MAX holds after a drain: no dead letter over the cap is left."""

from __future__ import annotations

import re

import pytest

from tests import tasks

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_a_drained_queue_keeps_exactly_the_cap(run_command, broker):
    # The last batch's settle is sent behind the next claim: the trim must wait
    # for it to be stored (before the fix, all 25 were kept).
    k = broker.keys("default")
    broker.client.rpush(k.pending, *[b"poison %d" % n for n in range(25)])
    ok = tasks.add.enqueue(1, 2)

    done = run_command("runworker", "--burst", env={"TQ_TEST_DEAD_LETTER_MAX": "10"})

    assert done.returncode == 0, done.stderr
    assert tasks.add.get_result(ok.id).return_value == 3
    assert len(broker.dead_letter_ids("default")) == 10
    assert broker.client.hlen(k.dead_raw) == 10
    dropped = re.findall(r"Dropped (\d+) dead letters", done.stderr)
    assert sum(map(int, dropped)) == 15  # one trim per stored settle with dead letters
