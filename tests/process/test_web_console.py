"""The web process's console, as `make run` shows it: runserver as a real process.

A 4xx is one line (the access log), the dashboard's poll is not logged at
all while it succeeds, and ``/`` is a landing page, not a 404.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess

import pytest

from tests.conftest import ROOT, manage, wait_until
from tests.helpers import free_port

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def get(port: int, path: str) -> tuple[int, bytes]:
    """One GET without following redirects."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answers(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] in (200, 503)
    except OSError:
        return False


@pytest.fixture
def web(worker_env, tmp_path):
    """A runserver process (DEBUG on, as in `make run`) and its output file."""
    port, log_path = free_port(), tmp_path / "web.log"
    env = {**worker_env, "DJANGO_DEBUG": "true"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            manage("runserver", f"127.0.0.1:{port}", "--noreload"), env=env,
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: answers(port), timeout=30)
        yield port, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def lines_with(log_path, text: str) -> list[str]:
    return [line for line in log_path.read_text().splitlines() if text in line]


def test_4xx_is_one_line_and_the_dashboard_poll_is_quiet(web):
    port, log_path = web

    assert get(port, "/admin/queues/data/")[0] == 302  # anonymous: to the login
    assert get(port, "/api/nothing/here/")[0] == 404
    assert get(port, "/api/queues/")[0] == 401
    wait_until(lambda: lines_with(log_path, "/api/queues/"), timeout=10)

    assert len(lines_with(log_path, "/api/nothing/here/")) == 1
    assert len(lines_with(log_path, "/api/queues/")) == 1
    assert lines_with(log_path, "/admin/queues/data/") == []


def test_the_root_url_is_a_landing_page_with_the_main_links(web):
    port, _log_path = web

    status, body = get(port, "/")

    assert status == 200
    for link in (b'href="/admin/"', b'href="/admin/queues/"', b'href="/api/schema/"',
                 b'href="/healthz"'):  # fmt: skip
        assert link in body
