"""A property of the worker, tried by Hypothesis against a real worker and Redis.

Batches mix healthy recipe tasks with generated hostile messages (any field
of the envelope replaced by a value of any JSON type and range, huge numbers,
deep nesting, NaN, missing fields, raw bytes). After each batch: the same
worker process is still running, every healthy task ran exactly once, every
hostile message is a dead letter with a reason, and nothing is left pending,
in flight or READY. TQ_HYPOTHESIS_EXAMPLES sets the number of batches.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipe.models import Recipe
from taskqueue.compat import TaskResultStatus
from taskqueue.protocol import CLOCK_SKEW, MAX_TIMESTAMP, Envelope
from tests.conftest import wait_until
from tests.helpers import dead_reasons

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
EXAMPLES = int(os.environ.get("TQ_HYPOTHESIS_EXAMPLES", "100"))

scalars = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=True, allow_infinity=True)
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
deep = st.integers(65, 400).map(lambda n: json.loads("[" * n + "]" * n))


def not_(valid: Any) -> Any:
    return lambda value: not valid(value)


def _int_in(low: int, high: int) -> Any:
    return lambda v: type(v) is int and low <= v <= high


def _time_ok(v: Any) -> bool:
    """Could be a valid enqueued_at (a day's margin around decode's limit)."""
    return type(v) in (int, float) and 0 <= v <= time.time() + CLOCK_SKEW + 86400


# For each field, values that make the envelope invalid (so it must be poison).
BAD_FIELDS: dict[str, Any] = {
    "v": json_values.filter(not_(_int_in(1, 1))),
    "id": json_values.filter(lambda v: not isinstance(v, str) or not v.isalnum()),
    "p": json_values.filter(not_(_int_in(-100, 100))),
    "task": json_values.filter(lambda v: v != "recipe.tasks.process_recipe"),
    "args": json_values.filter(lambda v: v != []) | deep.map(lambda d: [d]),
    "kwargs": json_values.filter(lambda v: not isinstance(v, dict) or bool(v))
    | deep.map(lambda d: {"recipe_id": d}),
    "queue": json_values.filter(lambda v: v != "default"),
    "backend": json_values.filter(lambda v: not isinstance(v, str)),
    "enqueued_at": json_values.filter(not_(_time_ok)) | st.just(1e300),
    "attempt": json_values.filter(not_(_int_in(1, 1000))),
    "run_after": json_values.filter(
        lambda v: (
            v is not None and not (type(v) in (int, float) and 0 <= v <= MAX_TIMESTAMP)
        )
    ),
}


def hostile_envelope(field: str, value: Any, *, drop: bool) -> bytes:
    body: dict[str, Any] = {
        "v": 1, "id": "hostile1", "p": 0, "task": "recipe.tasks.process_recipe",
        "args": [], "kwargs": {"recipe_id": 1}, "queue": "default",
        "backend": "default", "enqueued_at": time.time(), "attempt": 1,
    }  # fmt: skip
    if drop:
        del body[field]
    else:
        body[field] = value
    return json.dumps(body, separators=(",", ":")).encode()


REQUIRED = [name for name in BAD_FIELDS if name != "run_after"]
hostile = st.one_of(
    st.sampled_from(REQUIRED).map(lambda f: hostile_envelope(f, None, drop=True)),
    st.sampled_from(list(BAD_FIELDS)).flatmap(
        lambda f: BAD_FIELDS[f].map(lambda v: hostile_envelope(f, v, drop=False))
    ),
    st.binary(max_size=64).filter(lambda b: not b.lstrip().startswith(b"{")),
)


def healthy_envelope(recipe_id: int, n: int) -> bytes:
    return Envelope(
        id=f"healthy{recipe_id}x{n}", task="recipe.tasks.process_recipe", args=[],
        kwargs={"recipe_id": recipe_id}, queue="default", enqueued_at=time.time(),
    ).encode()  # fmt: skip


@settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(batch=st.lists(st.one_of(st.just(None), hostile), min_size=1, max_size=12))
def test_hostile_messages_never_stop_the_worker_nor_cost_a_healthy_one(
    worker_for_property, broker, batch
):
    worker = worker_for_property
    dead_before = len(dead_reasons(broker))
    healthy, raws = [], []
    for n, item in enumerate(batch):
        if item is None:
            recipe = Recipe.objects.create(name="H", ingredients="a", instructions="b")
            healthy.append(recipe)
            raws.append(healthy_envelope(recipe.id, n))
        else:
            raws.append(item)
    broker.client.rpush(broker.keys("default").pending, *raws)

    hostile_count = len(raws) - len(healthy)
    wait_until(lambda: len(dead_reasons(broker)) - dead_before >= hostile_count)
    wait_until(lambda: all(r.processed_count == 1 for r in _reloaded(healthy)))
    wait_until(lambda: broker.stats("default").in_flight == 0)

    assert worker.proc.poll() is None, worker.output[-3000:]
    assert len(dead_reasons(broker)) - dead_before == hostile_count
    assert all(reason for reason in dead_reasons(broker))
    assert broker.stats("default").pending == 0
    assert broker.client.hlen(broker.keys("default").ready) == 0
    from recipe.tasks import process_recipe

    for raw, item in zip(raws, batch, strict=True):
        if item is None:
            result = process_recipe.get_result(json.loads(raw)["id"])
            assert (result.status, result.attempts) == (TaskResultStatus.SUCCESSFUL, 1)


def _reloaded(recipes: list[Recipe]) -> list[Recipe]:
    return list(Recipe.objects.filter(pk__in=[r.pk for r in recipes]))


@pytest.fixture
def worker_for_property(start_worker, broker):
    worker = start_worker()
    wait_until(lambda: broker.workers())
    pid = worker.proc.pid
    yield worker
    assert worker.proc.pid == pid
    assert worker.proc.poll() is None
