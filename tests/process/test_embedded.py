"""The embedded Redis is one server per directory, shared by every process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from taskqueue import embedded
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.process

ENSURE = """
import json, sys
from pathlib import Path
from taskqueue import embedded
directory = Path(sys.argv[1])
url = embedded.ensure_running(directory)
print(json.dumps({"url": url, "pid": embedded.pid(directory)}))
"""


@pytest.fixture
def redis_dir() -> Iterator[Path]:
    """A short directory (unix socket paths must stay under ~100 characters)."""
    directory = Path(tempfile.mkdtemp(prefix="tq-emb-", dir="/tmp"))
    try:
        yield directory
    finally:
        stop_for_sure(directory)
        shutil.rmtree(directory, ignore_errors=True)


def stop_for_sure(directory: Path) -> None:
    embedded.stop(directory)
    for proc in servers_for(directory):
        proc.kill()


def servers_for(directory: Path) -> list[psutil.Process]:
    """Live redis-server processes serving this directory's socket."""
    sock = str(directory / "redis.sock")
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if (
            "redis-server" in cmdline
            and sock in cmdline
            and proc.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(proc)
    return found


def ensure_in_new_process(directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", ENSURE, str(directory)], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def answer(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_two_processes_starting_at_once_share_one_server(redis_dir):
    # Given two processes that both need the server at the same moment
    first, second = ensure_in_new_process(redis_dir), ensure_in_new_process(redis_dir)

    # When both have returned
    one, two = answer(first), answer(second)

    # Then they got the same server: one socket, one pid file, one process
    assert one == two
    assert one["url"] == f"unix://{redis_dir / 'redis.sock'}"
    servers = servers_for(redis_dir)
    assert [proc.pid for proc in servers] == [one["pid"]]
    assert embedded.is_running(redis_dir)


def test_a_later_process_reuses_the_running_server(redis_dir):
    first = answer(ensure_in_new_process(redis_dir))

    later = answer(ensure_in_new_process(redis_dir))

    assert later == first
    assert len(servers_for(redis_dir)) == 1


def test_stop_ends_the_server(redis_dir):
    started = answer(ensure_in_new_process(redis_dir))
    assert isinstance(started["pid"], int)

    assert embedded.stop(redis_dir) is True

    assert not embedded.is_running(redis_dir)
    wait_until(lambda: not servers_for(redis_dir), timeout=10)
    assert embedded.pid(redis_dir) is None
    assert embedded.stop(redis_dir) is False
