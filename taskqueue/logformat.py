"""Log output for the worker: human-readable text (default) or one JSON object per line.

JSON lines are for log shippers (Loki, ELK, Cloud Logging): every line is a
complete object with ``time``, ``level``, ``logger`` and ``message``, plus the
task fields a call passes with ``extra={...}`` (see ``EXTRA_FIELDS``) and
``exception`` when there is a traceback. Both formats mask credentials in
URLs (``connection.mask_credentials``), so a password never reaches the logs
whatever the call site does. The web process uses the same formatter (see
``LOGGING`` in project/settings.py), plus ``QuietPaths`` for its access log.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from taskqueue.connection import mask_credentials

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXTRA_FIELDS = ("task_id", "task", "queue", "attempt", "duration", "outcome")


def _without_empty_exc_info(record: logging.LogRecord) -> None:
    """Drop an exc_info that holds no exception.

    ``logger.exception()`` called outside an ``except`` block (Django's
    task_finished log receiver does, when the signal is sent after the
    outcome is stored) records ``(None, None, None)``, which the stock
    formatter prints as a stray ``NoneType: None`` line.
    """
    if record.exc_info and record.exc_info[0] is None:
        record.exc_info = None


class MaskingFormatter(logging.Formatter):
    """The plain text format, with credentials masked in message and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        _without_empty_exc_info(record)
        return mask_credentials(super().format(record))


class QuietPaths(logging.Filter):
    """Drop access-log lines of successful requests to noisy paths.

    The dashboard polls its ``data/`` URL every few seconds; logged, that
    buries everything else in runserver's access log. Errors (4xx/5xx) on
    those paths are still logged.
    """

    def __init__(self, paths: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.paths = tuple(paths)

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or status >= 400:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        request_line = str(args[0]) if args else ""
        path = request_line.split(" ")[1] if request_line.count(" ") >= 1 else ""
        return not path.startswith(self.paths)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``fields`` are copied from the record when set."""

    def __init__(self, fields: tuple[str, ...] = EXTRA_FIELDS) -> None:
        super().__init__()
        self.fields = fields

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_credentials(record.getMessage()),
        }
        _without_empty_exc_info(record)
        for name in self.fields:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = (
                    mask_credentials(value) if isinstance(value, str) else value
                )
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = mask_credentials(record.exc_text)
        if record.stack_info:
            entry["stack"] = mask_credentials(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=str).decode()


def configure(
    format: str = "text",  # noqa: A002 - the --log-format option's name
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send all logging to one stream handler on the root logger, in ``format``.

    Replaces the root logger's handlers (Django's console handler would print
    every line twice) and sets the level of the root and ``taskqueue``
    loggers. Returns the installed handler.
    """
    if format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if format == "json" else MaskingFormatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("taskqueue").setLevel(level.upper())
    return handler
