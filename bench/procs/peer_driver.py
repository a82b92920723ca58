"""Producer side for the peers, run in their venv; prints one JSON line.

python -m bench.procs.peer_driver PEER fill noop|orm|none N
    queue N tasks with the peer's own API, then the sentinel `done` task
python -m bench.procs.peer_driver PEER enqueue N
    time N single enqueue calls (and one bulk call where the peer has one)
python -m bench.procs.peer_driver PEER latency K
    K `stamp` tasks one at a time on an idle worker; latencies in seconds
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.procs import common

Send = Callable[[str, tuple[Any, ...]], None]


def rq_api() -> tuple[Send, Callable[[str, list[tuple[Any, ...]]], None] | None]:
    from redis import Redis
    from rq import Queue

    mod = importlib.import_module("bench.procs.rq_tasks")
    queue = Queue("default", connection=Redis.from_url(common.REDIS_URL))

    def send(name: str, args: tuple[Any, ...]) -> None:
        queue.enqueue(getattr(mod, name), *args, result_ttl=0)

    def bulk(name: str, calls: list[tuple[Any, ...]]) -> None:
        func = getattr(mod, name)
        queue.enqueue_many(
            [Queue.prepare_data(func, args, result_ttl=0) for args in calls]
        )

    return send, bulk


def celery_api() -> tuple[Send, None]:
    mod = importlib.import_module("bench.procs.celery_app")
    return (lambda name, args: getattr(mod, name).delay(*args)), None


def dramatiq_api() -> tuple[Send, None]:
    mod = importlib.import_module("bench.procs.dramatiq_tasks")
    return (lambda name, args: getattr(mod, name).send(*args)), None


def huey_api() -> tuple[Send, None]:
    mod = importlib.import_module("bench.procs.huey_tasks")
    return (lambda name, args: getattr(mod, name)(*args)), None


def django6_api() -> tuple[Send, Callable[[str, list[tuple[Any, ...]]], None] | None]:
    """task.enqueue() on TASKS["default"]; the backend's enqueue_many where it has one."""
    common.setup_django()
    mod = importlib.import_module("bench.procs.django6_tasks")
    backend = mod.noop.get_backend()

    def send(name: str, args: tuple[Any, ...]) -> None:
        getattr(mod, name).enqueue(*args)

    def bulk(name: str, calls: list[tuple[Any, ...]]) -> None:
        func = getattr(mod, name)
        backend.enqueue_many([(func, args, {}) for args in calls])

    # django-vtasks' Valkey backend defines enqueue_many (its base class only
    # raises NotImplementedError); django-tasks-redis, -db and Huey have none
    return send, (bulk if "enqueue_many" in vars(type(backend)) else None)


APIS = {
    "rq": rq_api,
    "celery": celery_api,
    "dramatiq": dramatiq_api,
    "huey": huey_api,
    "django6": django6_api,
}


def calls_for(workload: str, n: int) -> list[tuple[str, tuple[Any, ...]]]:
    if workload == "orm":
        return [("orm", (i % 1000 + 1,)) for i in range(n)]
    if workload == "noop":
        return [("noop", ())] * n
    return []


def fill(send: Send, bulk: Any, workload: str, *, n: int) -> dict[str, Any]:
    calls = calls_for(workload, n)
    send("start", ())
    if bulk is not None and calls:
        for start in range(0, len(calls), 1000):
            chunk = calls[start : start + 1000]
            bulk(chunk[0][0], [args for _, args in chunk])
    else:
        for name, args in calls:
            send(name, args)
    send("done", ())
    return {"queued": n}


def enqueue(send: Send, bulk: Any, n: int) -> dict[str, Any]:
    start = time.perf_counter()
    for _ in range(n):
        send("noop", ())
    out: dict[str, Any] = {"single": n / (time.perf_counter() - start)}
    if bulk is not None:
        start = time.perf_counter()
        bulk("noop", [()] * n)
        out["bulk"] = n / (time.perf_counter() - start)
    return out


def latency(send: Send, k: int) -> dict[str, Any]:
    r = common.client()
    r.delete(common.LATENCY_KEY)
    for i in range(k):
        send("stamp", (time.time(),))
        deadline = time.monotonic() + 10
        while r.llen(common.LATENCY_KEY) <= i and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(random.uniform(0.005, 0.015))
    return {"latencies": [float(x) for x in r.lrange(common.LATENCY_KEY, 0, -1)]}


def main() -> None:
    peer, action, *rest = sys.argv[1:]
    send, bulk = APIS[peer]()
    if action == "fill":
        out = fill(send, bulk, rest[0], n=int(rest[1]))
    elif action == "enqueue":
        out = enqueue(send, bulk, int(rest[0]))
    else:
        out = latency(send, int(rest[0]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
