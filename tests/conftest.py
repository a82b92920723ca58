"""Shared fixtures: a real Redis (isolated per test), worker processes, polling.

Redis: see tests/settings.py (TEST_REDIS_URL, REDIS_URL or an embedded
server). Each test gets its own key prefix (passed
to worker subprocesses as TASKQUEUE_KEY_PREFIX) and its keys are deleted after.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the embedded Redis this run used (worker subprocesses are gone by now).

    Under pytest-xdist the controller stops it, after every test process has
    finished; a test process that finishes first leaves it to the others."""
    if hasattr(session.config, "workerinput"):
        return
    from django.conf import settings

    directory = getattr(settings, "EMBEDDED_TEST_REDIS", None)
    if directory:
        from taskqueue import embedded

        embedded.stop(Path(directory))


def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll predicate until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


_OPENED: dict[int, str] = {}  # PostgreSQL backend pid -> where this process opened it


def _note_opened(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Remember which thread and code opened each session (named if it leaks)."""
    if connection.vendor != "postgresql":
        return
    import threading
    import traceback

    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stack = "".join(traceback.format_stack(limit=14)[:-2])
    _OPENED[pid] = f"thread {threading.current_thread().name}:\n{stack}"


@pytest.fixture(scope="session", autouse=True)
def _no_session_outlives_the_run(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[None]:
    """Before the test database is dropped: wait for the sessions of processes
    the tests killed to end (PostgreSQL ends a dead client's backend a moment
    later, and DROP DATABASE refuses while one is there); one that stays is a
    leak, named in the failure."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    connection_created.connect(_note_opened)
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        try:
            wait_until(lambda: not _other_sessions(connection), timeout=15)
        except AssertionError:
            leaked = _other_sessions(connection)
            owners = [_owner(row[2]) for row in leaked]
            opened = [
                _OPENED.get(row[0], "not opened by this process") for row in leaked
            ]
            raise AssertionError(
                f"database sessions outlive the run: {leaked}, held by {owners}, "
                f"opened in {opened}"
            ) from None


def _owner(client_port: Any) -> str:
    """Which local process holds a leaked session's socket (and its last SQL)."""
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == client_port and conn.pid:
            proc = psutil.Process(conn.pid)
            own = " (this test process)" if conn.pid == os.getpid() else ""
            return f"pid {conn.pid}{own}: {' '.join(proc.cmdline())[:300]}"
    return "no local process"


def _other_sessions(connection: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, client_port, backend_start, state, "
            "left(query, 200) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return list(cursor.fetchall())


@pytest.fixture(autouse=True)
def _auth_listener_stopped() -> Iterator[None]:
    """The token cache's listener thread (started by a token request) ends with
    its test: the next test has another key prefix, and no thread may outlive
    the test that started it."""
    yield
    _stop_auth_listener()


def _stop_auth_listener() -> None:
    import sys

    authlistener = sys.modules.get("taskqueue.web.authlistener")
    if authlistener is None:
        return
    import threading

    assert authlistener.stop(timeout=10), "the auth listener thread did not stop"
    wait_until(
        lambda: (
            not any(
                t.name == "taskqueue-auth-listener" and t.is_alive()
                for t in threading.enumerate()
            )
        )
    )


@pytest.fixture
def key_prefix(settings: Any) -> Iterator[str]:
    """A fresh key prefix for the default backend; its keys are removed after."""
    from taskqueue import registry
    from taskqueue.connection import make_client

    prefix = f"t{secrets.token_hex(4)}:"
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {**tasks["default"]["OPTIONS"], "KEY_PREFIX": prefix}
    settings.TASKS = tasks
    yield prefix
    _stop_auth_listener()  # before its broker goes
    registry.reset()
    client = make_client(os.environ["REDIS_URL"])
    for pattern in (f"{prefix}*", f"{{{prefix}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    client.close()


@pytest.fixture
def backend(key_prefix: str) -> Any:
    from taskqueue.compat import task_backends

    return task_backends["default"]


@pytest.fixture
def broker(backend: Any) -> Any:
    return backend.broker


@pytest.fixture
def worker_env(key_prefix: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for a worker subprocess that shares this test's Redis keys and DB."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        TASKQUEUE_KEY_PREFIX=key_prefix,
        PYTHONUNBUFFERED="1",
    )
    if "django_db_setup" in request.fixturenames or any(
        m.name == "django_db" for m in request.node.iter_markers()
    ):
        env["DATABASE_URL"] = _database_url()
    return env


def _with(base: dict[str, str], extra: dict[str, str] | None) -> dict[str, str]:
    """A subprocess environment; a test's own REDIS_URL wins over TEST_REDIS_URL
    (tests/settings.py reads TEST_REDIS_URL first)."""
    env = {**base, **(extra or {})}
    if extra and "REDIS_URL" in extra and "TEST_REDIS_URL" in env:
        env["TEST_REDIS_URL"] = extra["REDIS_URL"]
    return env


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def manage(*args: str) -> list[str]:
    """A manage.py command line; runworker gets the solo pool unless a test picks one.

    The default pool is prefork (CPU-count children). Tests that are about one
    worker process (SIGKILL it, read its output, count its tasks) want exactly
    one process; the pool tests ask for prefork or threads explicitly.
    """
    if args and args[0] == "runworker" and "--pool" not in args:
        args = ("runworker", "--pool", "solo", *args[1:])
    return [sys.executable, str(ROOT / "manage.py"), *args]


@pytest.fixture
def run_command(
    worker_env: dict[str, str],
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a manage.py command to completion (bounded) with the test's environment."""

    def run(
        *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            manage(*args), env=_with(worker_env, env), cwd=ROOT,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    return run


class WorkerProcess:
    """A runworker subprocess; output goes to a file so it never blocks on a pipe."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            manage("runworker", *args), env=env, cwd=ROOT, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = WorkerProcess(list(args), _with(worker_env, env), log_path)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
