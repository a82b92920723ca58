"""`make run` (python -m project.devserver) as a real process group.

Each test gets its own var dir (SQLite file, embedded Redis) and port, so it
never touches the developer's var/ or a running `make run`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from taskqueue import embedded
from tests.conftest import ROOT, wait_until
from tests.helpers import free_port

pytestmark = pytest.mark.process

ADMIN_PASSWORD = "devserver-test-pw-8342"
DROPPED = (
    "REDIS_URL",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "TASKQUEUE_KEY_PREFIX",
    "PORT",
)

READY_LINES = ("Stop:   Ctrl-C", "recipe.tasks.process_recipe")


class DevServer:
    """One `python -m project.devserver` in its own session, output in a file."""

    def __init__(
        self, var_dir: Path, port: int, extra_env: dict[str, str] | None = None
    ) -> None:
        self.var_dir = var_dir
        self.port = port
        self.log_path = var_dir / "devserver.log"
        env = {k: v for k, v in os.environ.items() if k not in DROPPED}
        env.update(
            TASKQUEUE_VAR_DIR=str(var_dir), PORT=str(port), PYTHONUNBUFFERED="1",
            DJANGO_SUPERUSER_USERNAME="tester", DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
            **(extra_env or {}),
        )  # fmt: skip
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "project.devserver"], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    @property
    def redis_dir(self) -> Path:
        return self.var_dir / "redis"

    def admin_login_status(self) -> int | None:
        assert self.proc.poll() is None, f"devserver exited early:\n{self.output}"
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/admin/login/", timeout=2
            ) as response:
                return int(response.status)
        except (urllib.error.URLError, OSError):
            return None

    def wait_until_serving(self) -> None:
        wait_until(lambda: self.admin_login_status() == 200, timeout=90, interval=0.1)
        # The supervisor's URL banner and the worker's start-up banner are both out.
        wait_until(lambda: all(line in self.output for line in READY_LINES), timeout=30)

    def descendants(self) -> dict[str, psutil.Process]:
        """Every process this run started (its children and the embedded Redis), by command line."""
        found = psutil.Process(self.proc.pid).children(recursive=True)
        redis_pid = embedded.pid(self.redis_dir)
        if redis_pid is not None:
            found.append(psutil.Process(redis_pid))
        # Keyed by pid too: prefork children share their supervisor's command line.
        return {f"{p.pid} {' '.join(p.cmdline())}": p for p in found}

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        embedded.stop(self.redis_dir)


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """A short path: the embedded server's unix socket lives under it."""
    directory = Path(tempfile.mkdtemp(prefix="tq-dev-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def devserver(var_dir: Path) -> Iterator[DevServer]:
    server = DevServer(var_dir, free_port())
    try:
        yield server
    finally:
        server.cleanup()


def is_gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def assert_nothing_left(
    server: DevServer, started: dict[str, psutil.Process], *, embedded_redis=True
) -> None:
    names = " | ".join(started)
    expected = ("runserver", "runworker", "redis-server")
    for name in expected if embedded_redis else expected[:2]:
        assert name in names
    wait_until(lambda: all(is_gone(p) for p in started.values()), timeout=5)
    assert port_is_closed(server.port)
    assert not embedded.is_running(server.redis_dir)


@pytest.mark.parametrize(
    ("target", "signum"),
    [
        ("process group", signal.SIGINT),
        ("process", signal.SIGTERM),
        ("process", signal.SIGINT),
    ],
)
def test_serves_the_admin_and_a_signal_stops_everything(devserver, target, signum):
    # Given a running demo: admin answering, worker and embedded Redis up
    devserver.wait_until_serving()
    started = devserver.descendants()

    # When Ctrl-C reaches the whole group, or a signal reaches the supervisor only
    if target == "process group":
        os.killpg(devserver.proc.pid, signum)
    else:
        devserver.proc.send_signal(signum)

    # Then it exits 0 within seconds and nothing it started is left running
    assert devserver.proc.wait(timeout=15) == 0, devserver.output
    assert_nothing_left(devserver, started)
    output = devserver.output
    assert "Loaded 50 demo recipes." in output
    assert "Created admin account 'tester'" in output
    assert f"http://127.0.0.1:{devserver.port}/admin/" in output
    assert ADMIN_PASSWORD not in output
    assert "Traceback" not in output


def test_ctrl_c_leaves_no_process_and_no_registered_worker(var_dir, broker, key_prefix):
    # Given `make run` on an external Redis, its prefork worker idle on two queues
    server = DevServer(
        var_dir, free_port(),
        {"REDIS_URL": broker.url, "TASKQUEUE_KEY_PREFIX": key_prefix},
    )  # fmt: skip
    try:
        server.wait_until_serving()
        children = os.cpu_count() or 1  # the default prefork pool: one per CPU
        wait_until(lambda: len(broker.workers()) == children, timeout=30)
        started = server.descendants()

        # When the user presses Ctrl-C (SIGINT to the whole process group)
        os.killpg(server.proc.pid, signal.SIGINT)

        # Then everything exits cleanly and the next start finds no worker listed
        assert server.proc.wait(timeout=15) == 0, server.output
        assert_nothing_left(server, started, embedded_redis=False)
    finally:
        server.cleanup()
    assert broker.workers() == {}, server.output
    for queue in ("default", "high"):
        assert broker.client.zcard(broker.keys(queue).consumers) == 0
    assert "stopping (Ctrl-C again to force)" in server.output
    assert "Traceback" not in server.output


def test_a_child_that_dies_stops_the_rest_with_an_error(devserver):
    devserver.wait_until_serving()
    started = devserver.descendants()
    worker = next(
        p
        for name, p in started.items()
        if "runworker" in name and p.ppid() == devserver.proc.pid  # the supervisor
    )

    worker.kill()

    assert devserver.proc.wait(timeout=15) == 1
    assert "the worker exited unexpectedly" in devserver.output
    assert_nothing_left(devserver, started)


def test_a_second_run_keeps_the_data_and_the_account(var_dir):
    first = DevServer(var_dir, free_port())
    try:
        first.wait_until_serving()
        os.killpg(first.proc.pid, signal.SIGINT)
        assert first.proc.wait(timeout=15) == 0
    finally:
        first.cleanup()
    shutil.move(first.log_path, var_dir / "first.log")

    second = DevServer(var_dir, free_port())
    try:
        second.wait_until_serving()
        os.killpg(second.proc.pid, signal.SIGINT)
        assert second.proc.wait(timeout=15) == 0
    finally:
        second.cleanup()

    assert "Loaded" not in second.output
    assert "Admin account: 'tester'" in second.output


STRAY = "import sys; from pathlib import Path; from taskqueue import embedded; embedded.ensure_running(Path(sys.argv[1]))"


def test_a_command_run_while_make_run_is_stopped_leaves_no_redis(var_dir):
    # Given no `make run` (no embedded Redis) for this project directory
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(TASKQUEUE_VAR_DIR=str(var_dir))

    # When a short management command needs Redis
    done = subprocess.run(
        [sys.executable, "manage.py", "queuestats"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    # Then it worked, and the server it started stopped with it
    assert done.returncode == 0, done.stderr
    assert "default" in done.stdout
    assert (var_dir / "redis" / "redis.log").exists()  # it did start one
    assert not embedded.is_running(var_dir / "redis")
    assert embedded.pid(var_dir / "redis") is None


def test_make_run_stops_a_stray_embedded_redis_it_reused(var_dir):
    # Given an embedded Redis left running (as a killed process leaves it)
    redis_dir = var_dir / "redis"
    subprocess.run([sys.executable, "-c", STRAY, str(redis_dir)], cwd=ROOT, check=True)
    stray = embedded.pid(redis_dir)
    assert stray is not None
    assert embedded.is_running(redis_dir)

    # When `make run` reuses it and is stopped with Ctrl-C
    server = DevServer(var_dir, free_port())
    try:
        server.wait_until_serving()
        os.killpg(server.proc.pid, signal.SIGINT)
        assert server.proc.wait(timeout=15) == 0, server.output

        # Then the stray server is gone too (checked before cleanup() stops it)
        assert "already running" in server.output
        assert not embedded.is_running(redis_dir)
        wait_until(
            lambda: not psutil.pid_exists(stray) or is_gone(psutil.Process(stray))
        )
    finally:
        server.cleanup()


def run_to_exit(var_dir: Path, port: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(TASKQUEUE_VAR_DIR=str(var_dir), PORT=port)
    return subprocess.run(
        [sys.executable, "-m", "project.devserver"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_taken_port_is_one_clear_line_and_exit_2(var_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = run_to_exit(var_dir, str(port))

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"devserver: port {port} on 127.0.0.1 is already in use; "
        "stop what uses it or run with PORT=<another port>"
    ]
    assert not (var_dir / "redis").exists()


def test_a_port_that_is_not_a_number_is_refused(var_dir):
    done = run_to_exit(var_dir, "eighty")

    assert done.returncode == 2
    assert done.stderr.strip() == "devserver: PORT must be a number, not 'eighty'"
