"""Instructions Redis spends per message on the claim and the settle (callgrind).

The Redis CPU figure of ``bench/run.py`` (``INFO cpu`` over a worker's run)
moves by 10-30 % with whatever else the machine runs; an instruction count
does not, so two checkouts compare to a fraction of a percent. Run from a
checkout (its ``taskqueue`` is the one measured)::

    .venv/bin/python bench/redis_instructions.py [N] [--only claim|settle]

It starts ``redis-server`` under ``valgrind --tool=callgrind`` with
instrumentation off, queues N no-op envelopes (and their READY entries, as
an enqueue writes them), then turns it on for the claims of batches of 100
and the settles of their plain successes, as a worker sends them, and prints
the instructions per message. Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout being measured
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import redis

BATCH = 100


def start_server(tmp: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
         "--instr-atstart=no", "redis-server", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", tmp, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=120)
    for _ in range(600):
        try:
            client.ping()
            return server
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("redis-server under valgrind did not answer")


def control(server: subprocess.Popen[bytes], *args: str) -> None:
    subprocess.run(
        ["callgrind_control", *args, str(server.pid)], check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def fill(broker, n: int) -> None:
    k = broker.keys("default")
    ids = [os.urandom(16).hex() for _ in range(n)]
    raws = [
        b'{"v":1,"id":"%s","p":0,"task":"tests.tasks.noop","args":[],"kwargs":{},'
        b'"queue":"default","backend":"default","enqueued_at":1764770000.123456,'
        b'"attempt":1}' % i.encode()
        for i in ids
    ]
    with broker.client.pipeline(transaction=False) as pipe:
        pipe.hset(k.ready, mapping=dict(zip(ids, raws, strict=True)))
        pipe.rpush(k.pending, *raws)
        pipe.execute()


def drain(broker, server, only: str | None) -> None:
    """Claim and settle everything, instrumenting what ``only`` names (None: both)."""
    from taskqueue.broker import ClaimPolicy, Settlement

    policy = ClaimPolicy(
        max_batch=BATCH, worker_timeout=30, result_ttl=86400, min_batch=BATCH
    )
    while True:
        if only == "claim":
            control(server, "-i", "on")
        claimed = broker.claim("default", "bench", policy).messages
        if only == "claim":
            control(server, "-i", "off")
        if not claimed:
            return
        now = time.time()
        items = [
            Settlement("done", m.raw, m.raw[13:45].decode(), "SUCCESSFUL", b"null",
                       started=now, finished=now + 1e-5)
            for m in claimed
        ]  # fmt: skip
        if only == "settle":
            control(server, "-i", "on")
        broker.settle("default", "bench", items, ttl=86400)
        if only == "settle":
            control(server, "-i", "off")


def instructions(tmp: str) -> int:
    total = 0
    for path in Path(tmp).glob("cg.out*"):
        for line in path.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=3000)
    parser.add_argument("--only", choices=("claim", "settle"))
    args = parser.parse_args()
    from bench.redis_server import free_port
    from taskqueue.broker import Broker

    with tempfile.TemporaryDirectory(prefix="tq-instructions-") as tmp:
        port = free_port()
        server = start_server(tmp, port)
        try:
            broker = Broker(redis.Redis(port=port, socket_timeout=120),
                            url=f"redis://127.0.0.1:{port}/0")  # fmt: skip
            fill(broker, BATCH * 3)
            drain(broker, server, "warm-up")  # scripts loaded, nothing counted
            fill(broker, args.n)
            if args.only is None:
                control(server, "-i", "on")
            drain(broker, server, args.only)
            if args.only is None:
                control(server, "-i", "off")
            control(server, "-d")
        finally:
            server.terminate()
            server.wait(timeout=60)
        what = args.only or "claim + settle"
        print(f"{instructions(tmp) / args.n:,.0f} Redis instructions per message "
              f"({what}; N={args.n}, batches of {BATCH}, plain no-op successes)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
