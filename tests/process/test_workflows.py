"""Workflows under SIGKILL: random workers killed and replaced while chains
and a 100-member group run. Every step runs (a second run only where its
first was on a killed worker), each chain ends with the right value, and the
group's callback is released once."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

import taskqueue
from taskqueue import workflows
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

CHAINS, CHAIN_STEPS, MEMBERS, KILLS = 3, 5, 100, 4
POOLS = (("solo",), ("solo",), ("prefork", "--concurrency", "2"))


def _runs(broker, prefix: str) -> list[tuple[str, str]]:
    """(task id, consumer id) of every run, in order."""
    log = broker.client.lrange(f"{prefix}wf:log", 0, -1)
    return [tuple(entry.decode().split(" ", 1)) for entry in log]  # type: ignore[misc]


def _kill(worker) -> None:
    """SIGKILL the whole worker (a prefork supervisor and its children at once)."""
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def test_chains_and_a_group_survive_sigkilled_workers(start_worker, broker, key_prefix):
    chains = [
        workflows.chain(
            workflows.step(tasks.wf_add, c * 100, pause=0.3),
            *(workflows.step(tasks.wf_add, pause=0.3).with_previous_result()
              for _ in range(CHAIN_STEPS - 1)),
        ).enqueue()
        for c in range(CHAINS)
    ]  # fmt: skip
    batch = workflows.group(
        *(workflows.step(tasks.wf_add, i, plus=0, pause=0.05) for i in range(MEMBERS)),
        then=tasks.wf_collect,
    ).enqueue()
    flows = [*chains, batch]
    total = CHAINS * CHAIN_STEPS + MEMBERS + 1
    started = time.monotonic()
    names = iter(f"w{i}" for i in range(100))
    workers = {}
    for pool in POOLS:
        name = next(names)
        workers[name] = start_worker("--name", name, "--pool", *pool)
    killed: set[str] = set()

    for kill in range(KILLS):
        target = (kill + 1) * total // (KILLS + 1)
        wait_until(lambda t=target: len(_runs(broker, key_prefix)) >= t, timeout=60)
        name = random.choice(sorted(workers))
        _kill(workers.pop(name))
        killed.add(name)
        fresh = next(names)
        workers[fresh] = start_worker("--name", fresh, "--pool", *random.choice(POOLS))

    def finished() -> bool:
        return all(
            taskqueue.workflow_status(f.id).status in ("SUCCESSFUL", "FAILED")
            for f in flows
        )

    wait_until(finished, timeout=60)
    elapsed = time.monotonic() - started

    runs = _runs(broker, key_prefix)
    per_task = Counter(task_id for task_id, _ in runs)
    every_step = [i for f in flows for i in (*f.step_ids, f.callback_id) if i]
    assert set(per_task) == set(every_step)  # every step ran, nothing else did
    for task_id, _count in per_task.items():  # a rerun only after a killed run
        by = [consumer for tid, consumer in runs if tid == task_id]
        assert all(c.split(".")[0].split("-")[0] in killed for c in by[:-1]), by
    for c, flow in enumerate(chains):
        status = taskqueue.workflow_status(flow.id)
        assert status.status == "SUCCESSFUL"
        assert flow.results()[-1].return_value == c * 100 + CHAIN_STEPS
    callback = taskqueue.workflow_status(batch.id).callback
    assert callback is not None
    assert callback.status == "SUCCESSFUL"
    assert broker.client.llen(broker.keys("default").pending) == 0
    result = batch.results()
    assert sum(r.return_value for r in result) == sum(range(MEMBERS))
    print(  # noqa: T201 (the figures of the report)
        f"workflow sigkill: steps={total} kills={KILLS} seconds={elapsed:.1f} "
        f"runs_per_step={dict(Counter(per_task.values()))} "
        f"callback_runs={per_task[batch.callback_id]}"
    )


def test_two_workers_finishing_the_last_two_members_at_once_call_back_once(
    start_worker, broker, key_prefix
):
    workers = [start_worker("--name", f"pair{i}") for i in range(2)]
    wait_until(
        lambda: len(broker.client.hkeys(_workers_key(key_prefix))) == 2, timeout=30
    )
    at = time.time() + 0.5
    groups = [
        workflows.group(
            workflows.step(tasks.wf_until, at + 0.4 * g, 1),
            workflows.step(tasks.wf_until, at + 0.4 * g, 2),
            then=tasks.wf_collect,
        ).enqueue()
        for g in range(5)
    ]

    wait_until(
        lambda: all(
            taskqueue.workflow_status(g.id).status == "SUCCESSFUL" for g in groups
        ),
        timeout=30,
    )

    runs = _runs(broker, key_prefix)
    together = 0
    for flow in groups:
        first, second = (
            next(c for t, c in runs if t == member) for member in flow.step_ids
        )
        together += first != second  # the two members ran on the two workers
        assert [t for t, _ in runs].count(flow.callback_id) == 1
        assert (
            broker.client.hget(
                broker.keys("default").result(flow.callback_id), "return"
            )
            == b"3"
        )
    assert together >= 3  # most pairs really finished on two workers at once
    del workers


def _workers_key(prefix: str) -> str:
    from taskqueue.keys import workers_key

    return workers_key(prefix)


@pytest.mark.parametrize("cancelled", [0, 1], ids=["queued", "not-yet-released"])
def test_a_cancelled_step_stops_its_chain(broker, run_command, cancelled):
    flow = workflows.chain(
        workflows.step(tasks.wf_add, 1),
        workflows.step(tasks.wf_add, 2),
        workflows.step(tasks.wf_add, 3),
    ).enqueue()
    # The first step is queued, the others not yet released: any can be cancelled.
    assert taskqueue.cancel(flow.step_ids[cancelled])

    done = run_command("runworker", "--burst")

    assert done.returncode == 0, done.stderr
    results = flow.results()
    assert [r.status for r in results[:cancelled]] == ["SUCCESSFUL"] * cancelled
    stopped = results[cancelled]
    assert stopped.status == "FAILED"
    assert stopped.errors[-1].exception_class_path.endswith("TaskCancelled")
    for later in results[cancelled + 1 :]:
        assert later.status == "FAILED"
        assert later.errors[-1].exception_class_path.endswith("WorkflowStopped")
    assert taskqueue.workflow_status(flow.id).status == "FAILED"
    assert broker.stats("default").pending == 0
