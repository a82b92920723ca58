"""mask_url and mask_credentials: every form a Redis password takes is masked, nothing raises."""

from __future__ import annotations

import io
import logging

import pytest

from taskqueue.connection import InvalidRedisURL, check_url, mask_credentials, mask_url
from taskqueue.logformat import JsonFormatter, MaskingFormatter, QuietPaths


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:pw@h/0", "redis://user:***@h/0"),
        ("redis://pw@h/0", "redis://***@h/0"),
        ("redis://h/0?password=pw", "redis://h/0?password=***"),
        ("redis://h/0?db=1&Password=pw&x=1", "redis://h/0?db=1&Password=***&x=1"),
        ("rediss://:pw@h:6380/1", "rediss://:***@h:6380/1"),
        ("unix:///run/r.sock?db=0&password=pw", "unix:///run/r.sock?db=0&password=***"),
        ("redis+cluster://:pw@a:7000,b:7001", "redis+cluster://:***@a:7000,b:7001"),
        (
            "redis+sentinel://:pw@s:26379/m/0?sentinel_password=pw",
            "redis+sentinel://:***@s:26379/m/0?sentinel_password=***",
        ),
        ("redis://:p@ss/w@h/0", "redis://:***@h/0"),  # an unencoded @ and /
        ("redis://:pw@[::1/0", "redis://:***@[::1/0"),  # urlsplit would raise
        ("redis://:pw@h:abc/0", "redis://:***@h:abc/0"),
        ("", "(embedded)"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("at redis://u:pw@h:1/2.", "at redis://u:***@h:1/2."),
        ("(redis+sentinel://:pw@a:1/m)", "(redis+sentinel://:***@a:1/m)"),
        ("'rediss://:pw@h:1/0', 'x'", "'rediss://:***@h:1/0', 'x'"),
        ("DATABASE postgres://u:pw@db/x", "DATABASE postgres://u:***@db/x"),
        ("no url here: pw@host", "no url here: pw@host"),
    ],
)
def test_mask_credentials_in_text(text, masked):
    assert mask_credentials(text) == masked


@pytest.mark.parametrize(
    "url",
    ["redis://h:abc/0", "redis://h:0/0", "redis://[::1/0", "http://h/0",
     "redis+cluster://a:1,b:x"],
)  # fmt: skip
def test_check_url_refuses_a_malformed_url_with_a_masked_message(url):
    with pytest.raises(InvalidRedisURL) as caught:
        check_url(url.replace("//", "//:secret@", 1))
    assert "secret" not in str(caught.value)


def _record(exc_info) -> logging.LogRecord:
    return logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "Task failed", (), exc_info
    )


@pytest.mark.parametrize("formatter", [MaskingFormatter(), JsonFormatter()])
def test_an_exception_log_outside_except_prints_no_nonetype_line(formatter):
    # logger.exception() outside an except block records (None, None, None).
    text = formatter.format(_record((None, None, None)))
    assert "NoneType" not in text
    assert "Task failed" in text


def test_quiet_paths_drops_only_successful_requests_to_those_paths():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(QuietPaths(["/admin/queues/data/"]))
    logger = logging.getLogger("tests.quietpaths")
    logger.handlers, logger.propagate = [handler], False

    def access(line: str, status: int) -> None:
        logger.info(
            '"%s" %s %s', line, str(status), "10", extra={"status_code": status}
        )

    access("GET /admin/queues/data/?status=FAILED HTTP/1.1", 200)
    access("GET /admin/queues/ HTTP/1.1", 200)
    access("GET /admin/queues/data/ HTTP/1.1", 500)

    logged = stream.getvalue().splitlines()
    assert len(logged) == 2
    assert "/admin/queues/ " in logged[0]
    assert " 500 " in logged[1]
