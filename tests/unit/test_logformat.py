"""JSON log lines: one object per line, task fields, masked credentials."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from taskqueue.logformat import (
    JsonFormatter,
    MaskingFormatter,
    configure,
    mask_credentials,
)


def make_logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tests.logformat.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_on_one_line():
    logger, stream = make_logger(JsonFormatter())

    logger.info("first %s", "line")
    logger.warning("second\nspans lines")

    first, second = lines(stream)
    assert first["message"] == "first line"
    assert first["level"] == "INFO"
    assert first["logger"] == logger.name
    assert first["time"].endswith("+00:00")
    assert second == {**second, "level": "WARNING", "message": "second\nspans lines"}
    assert set(first) == {"time", "level", "logger", "message"}


def test_task_fields_passed_as_extra_are_fields_of_the_object():
    logger, stream = make_logger(JsonFormatter())
    extra = {
        "task_id": "abc123",
        "task": "tests.tasks.add",
        "queue": "default",
        "attempt": 2,
        "duration": 0.125,
        "outcome": "succeeded",
        "unrelated": "not copied",
    }

    logger.info("Task succeeded", extra=extra)

    (entry,) = lines(stream)
    assert entry["task_id"] == "abc123"
    assert entry["task"] == "tests.tasks.add"
    assert entry["queue"] == "default"
    assert entry["attempt"] == 2
    assert entry["duration"] == 0.125
    assert entry["outcome"] == "succeeded"
    assert "unrelated" not in entry


def test_a_password_in_a_url_in_the_message_is_masked():
    logger, stream = make_logger(JsonFormatter())

    logger.error("cannot reach %s, retrying", "redis://app:s3cret@cache:6379/0")

    (entry,) = lines(stream)
    assert "s3cret" not in stream.getvalue()
    assert entry["message"] == "cannot reach redis://app:***@cache:6379/0, retrying"


def test_an_exception_is_a_string_field_and_is_masked_too():
    logger, stream = make_logger(JsonFormatter())

    try:
        raise ConnectionError("refused by rediss://:hunter2@db.example:6380/1")
    except ConnectionError:
        logger.exception("settle failed")

    (entry,) = lines(stream)
    assert entry["message"] == "settle failed"
    assert isinstance(entry["exception"], str)
    assert "Traceback" in entry["exception"]
    assert "rediss://:***@db.example:6380/1" in entry["exception"]
    assert "hunter2" not in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("at redis://u:pw@h:1/2.", "at redis://u:***@h:1/2."),
        ("(redis+cluster://:pw@a:7000,b:7001)", "(redis+cluster://:***@a:7000,b:7001)"),
        ("unix:///run/r.sock?db=1&password=pw", "unix:///run/r.sock?db=1&password=***"),
        ("no url here: pw@host", "no url here: pw@host"),
    ],
)
def test_mask_credentials(text, masked):
    assert mask_credentials(text) == masked


def test_the_text_format_masks_credentials():
    logger, stream = make_logger(MaskingFormatter("%(levelname)s %(message)s"))

    logger.info("broker %s", "redis://:topsecret@h:6379/0")

    assert stream.getvalue() == "INFO broker redis://:***@h:6379/0\n"


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("taskqueue").level)
    yield root
    root.handlers = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("taskqueue").setLevel(saved[2])


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_installs_one_root_handler(root_logging, fmt):
    stream = io.StringIO()

    handler = configure(fmt, "warning", stream=stream)
    logging.getLogger("taskqueue.worker").info("hidden")
    logging.getLogger("taskqueue.worker").warning("shown task_id=%s", "t1")

    assert root_logging.handlers == [handler]
    assert root_logging.level == logging.WARNING
    output = stream.getvalue()
    assert "hidden" not in output
    assert output.count("\n") == 1
    if fmt == "json":
        assert orjson.loads(output)["message"] == "shown task_id=t1"
    else:
        assert output.rstrip().endswith("WARNING taskqueue.worker: shown task_id=t1")


def test_configure_rejects_an_unknown_format(root_logging):
    with pytest.raises(ValueError, match="json"):
        configure("xml", "INFO")
