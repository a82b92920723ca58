"""MAX_BATCH is bounded: the claim and settle scripts unpack a batch's values,
and Lua's unpack takes at most 8,000 of them (a larger batch would fail every
claim at run time; it fails at start-up instead, with the setting's name)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskqueue.conf import MAX_BATCH_LIMIT, QueueOptions


def test_the_largest_batch_is_accepted():
    assert QueueOptions.from_options({"MAX_BATCH": MAX_BATCH_LIMIT}).max_batch == 5000


@pytest.mark.parametrize("value", [MAX_BATCH_LIMIT + 1, 10**6])
def test_a_larger_one_is_a_configuration_error(value):
    with pytest.raises(ImproperlyConfigured, match="MAX_BATCH must be <= 5000"):
        QueueOptions.from_options({"MAX_BATCH": value})
