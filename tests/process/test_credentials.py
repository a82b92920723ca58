"""A Redis password never shows: not in command errors, pages, logs or error reports.

Every URL form that can carry a password points at a Redis that is not
there (or is malformed); each command runs as a real process, the web side
through the test client, and every byte of output is searched for it.
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client, RequestFactory
from django.views.debug import technical_500_response

from recipe.models import Recipe

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PW = "Pw0rdXyZ42"
URLS = [
    f"redis://:{PW}@127.0.0.1:1/0",
    f"redis://someone:{PW}@127.0.0.1:1/0",
    f"redis://127.0.0.1:1/0?password={PW}",
    f"rediss://:{PW}@127.0.0.1:1/0",
    f"unix:///nonexistent/taskqueue-test.sock?db=0&password={PW}",
    f"redis+cluster://:{PW}@127.0.0.1:1,127.0.0.1:2",
    f"redis+sentinel://:{PW}@127.0.0.1:1/mymaster/0?sentinel_password={PW}",
    f"redis://:{PW}@127.0.0.1:abc/0",  # bad port
    f"redis://:{PW}@[::1/0",  # bad IPv6
    f"http://:{PW}@127.0.0.1:1/0",  # wrong scheme
]
COMMANDS = [
    ("queuestats",),
    ("deadletters", "list"),
    ("workerhealth",),
    ("enqueue_recipes", "{recipe}"),
    ("runworker", "--burst"),
]


def _hostile(settings, url):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {**tasks["default"]["OPTIONS"], "REDIS_URL": url}
    settings.TASKS = tasks
    settings.REDIS_URL = url


@pytest.mark.parametrize("url", URLS)
def test_no_command_prints_the_password(url, run_command, key_prefix):
    recipe = Recipe.objects.create(name="r", ingredients="i", instructions="x")
    env = {"REDIS_URL": url, "TEST_REDIS_URL": url}
    argvs = [[a.format(recipe=recipe.pk) for a in argv] for argv in COMMANDS]

    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(lambda a: run_command(*a, env=env, timeout=60), argvs))

    for argv, proc in zip(argvs, procs, strict=True):
        output = proc.stdout + proc.stderr
        assert PW not in output, (argv, output)
        assert proc.returncode != 0, (argv, output)
        if argv[0] != "runworker":  # runworker's own errors: reported to its owner
            assert "Traceback" not in output, (argv, output)
            assert len(proc.stderr.strip().splitlines()) == 1, (argv, output)


@pytest.mark.parametrize("url", URLS)
def test_no_page_or_web_log_shows_the_password(
    url, settings, key_prefix, admin_user, caplog
):
    _hostile(settings, url)
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)

    with caplog.at_level(logging.INFO):
        pages = [client.get(path) for path in ("/admin/queues/", "/api/queues/")]

    for page in pages:
        assert PW.encode() not in page.content
    assert pages[0].status_code == 200  # the dashboard shows the error itself
    assert b"***" in pages[0].content
    assert pages[1]["Content-Type"] == "application/json"
    assert PW not in caplog.text


def _fail_with(url):
    options = {"REDIS_URL": url}  # a frame variable the report shows  # noqa: F841
    raise ConnectionError("cannot reach " + url)


@pytest.mark.parametrize("url", URLS)
def test_the_debug_error_page_masks_settings_meta_and_frames(url, settings):
    _hostile(settings, url)
    settings.DEBUG = True
    request = RequestFactory().get("/admin/", REDIS_URL=url)  # runserver copies env
    try:
        _fail_with(url)
    except ConnectionError:
        response = technical_500_response(request, *sys.exc_info())

    page = response.content.decode()
    assert "REDIS_URL" in page  # the settings and META are shown, masked
    assert PW not in page


def test_every_web_log_handler_masks_credentials():
    """LOGGING installs the masking formatter on the web process's handlers too."""
    handlers = [
        h
        for name in ("", "django.server")
        for h in logging.getLogger(name).handlers
        if type(h).__module__ != "_pytest.logging"
    ]
    assert handlers
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1,
        "connecting to %s", (URLS[1],), None,
    )  # fmt: skip
    for handler in handlers:
        assert PW not in handler.format(record)
