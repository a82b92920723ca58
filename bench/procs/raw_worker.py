"""The raw limits: the least code that can consume the benchmark's messages.

    python -m bench.procs.raw_worker blpop   # BLPOP + json.loads, at-most-once
    python -m bench.procs.raw_worker lua     # Lua pop of up to 100 into a processing
                                             # list, one ack (DEL) per batch

Messages are JSON objects {"t": kind, "a": argument} on RAW_QUEUE.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from bench.procs import common

RAW_QUEUE = "raw:queue"
PROCESSING = "raw:processing"
BATCH = 100
POP_BATCH = """
local items = redis.call('LRANGE', KEYS[1], 0, ARGV[1] - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""


def handlers() -> dict[str, Callable[[Any], None]]:
    return {
        "noop": lambda _arg: None,
        "orm": common.orm_work,
        "start": lambda _arg: common.mark_start(),
        "done": lambda _arg: common.mark_done(),
        "stamp": common.stamp,
    }


def run_blpop(r: Any, handle: dict[str, Callable[[Any], None]]) -> None:
    while True:
        item = r.blpop([RAW_QUEUE], timeout=1)
        if item is None:
            continue
        msg = json.loads(item[1])
        handle[msg["t"]](msg.get("a"))


def run_lua(r: Any, handle: dict[str, Callable[[Any], None]]) -> None:
    pop = r.register_script(POP_BATCH)
    while True:
        items = pop(keys=[RAW_QUEUE, PROCESSING], args=[BATCH])
        if not items:
            one = r.blmove(RAW_QUEUE, PROCESSING, 1, "LEFT", "RIGHT")
            items = [one] if one is not None else []
        for raw in items:
            msg = json.loads(raw)
            handle[msg["t"]](msg.get("a"))
        if items:
            r.delete(PROCESSING)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    common.setup_django()
    loop = {"blpop": run_blpop, "lua": run_lua}[sys.argv[1]]
    loop(common.client(), handlers())


if __name__ == "__main__":
    main()
