"""What cancel and pause cost the hot path: claim + settle per message.

Run from a checkout (its ``taskqueue`` is the one measured), so the same
script compares two branches on one machine::

    .venv/bin/python bench/control_cost.py                  # this checkout
    cd ../main && /path/to/.venv/bin/python /path/to/bench/control_cost.py

It starts a private redis-server, pushes N messages, then claims them in
batches of 100 and settles each batch, as a worker does (no task code runs),
and prints the wall time and the server's time (INFO commandstats, EVALSHA)
per message: the median of R repeats. ``cancel set`` runs the same with one
unrelated task in the queue's cancel hash, the state in which the claim
reports cancels and the settle checks each message against the hash.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout being measured
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

N, REPEATS, BATCH = 20_000, 5, 100


def run_once(broker, *, cancel_set: bool) -> tuple[float, float, float]:
    """Per message: seconds of wall time, of server time (EVALSHA), and the
    commands the scripts ran inside Redis (a count: no noise)."""
    from taskqueue.broker import ClaimPolicy, Settlement

    client = broker.client
    client.flushdb()
    keys = broker.keys("default")
    if cancel_set:
        client.hset(keys.tag + ":cancel", "someone-else", "stop")
    ids = [f"{i:032x}" for i in range(N)]
    raws = [b'{"v":1,"id":"%s","p":0,"task":"t.noop","args":[],"kwargs":{}}' % i.encode()
            for i in ids]  # fmt: skip
    for start in range(0, N, 5000):
        client.rpush(keys.pending, *raws[start : start + 5000])
    policy = ClaimPolicy(
        max_batch=BATCH, worker_timeout=30, result_ttl=600, min_batch=BATCH
    )
    client.config_resetstat()
    began = time.perf_counter()
    while True:
        claimed = broker.claim("default", "bench", policy).messages
        if not claimed:
            break
        items = [
            Settlement(op="done", raw=m.raw, task_id=m.raw[13:45].decode(),
                       status="SUCCESSFUL", payload=b"null")
            for m in claimed
        ]  # fmt: skip
        broker.settle("default", "bench", items, ttl=600)
    wall = time.perf_counter() - began
    stats = client.info("commandstats")
    usec = float(stats.get("cmdstat_evalsha", {}).get("usec", 0))
    inner = sum(
        int(value["calls"]) for name, value in stats.items()
        if name not in ("cmdstat_evalsha", "cmdstat_config", "cmdstat_info")
    )  # fmt: skip
    return wall / N, usec / 1e6 / N, inner / N


def main() -> int:
    from bench.redis_server import RedisServer
    from taskqueue.broker import Broker

    with tempfile.TemporaryDirectory(prefix="tq-control-bench-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            broker = Broker(server.client(), url=server.url)
            cases = [("unset", False)]
            if hasattr(broker, "cancels"):
                cases.append(("cancel set", True))
            for name, cancel_set in cases:
                runs = [run_once(broker, cancel_set=cancel_set) for _ in range(REPEATS)]
                wall = statistics.median(r[0] for r in runs) * 1e6
                redis_side = statistics.median(r[1] for r in runs) * 1e6
                inner = runs[0][2]
                print(
                    f"{name:<11} claim+settle per message: {wall:.2f} µs wall, "
                    f"{redis_side:.2f} µs in Redis, {inner:.3f} commands inside "
                    f"the scripts (median of {REPEATS}, N={N}, batches of {BATCH})"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
