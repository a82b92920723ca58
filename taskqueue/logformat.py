"""Log output for the worker: human-readable text (default) or one JSON object per line.

JSON lines are for log shippers (Loki, ELK, Cloud Logging): every line is a
complete object with ``time``, ``level``, ``logger`` and ``message``, plus the
task fields a call passes with ``extra={...}`` (see ``EXTRA_FIELDS``) and
``exception`` when there is a traceback. Both formats mask credentials in
Redis URLs, so a password never reaches the logs whatever the call site does.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from taskqueue.connection import mask_url

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXTRA_FIELDS = ("task_id", "task", "queue", "attempt", "duration", "outcome")

# A Redis URL as it appears in prose: up to whitespace, a quote or a bracket.
URL_RE = re.compile(r"\b(?:rediss?|unix)(?:\+cluster)?://[^\s'\"<>()\[\]{}]+")
USERINFO_RE = re.compile(r"(//[^/:@\s]*):[^@\s]*@")
QUERY_PASSWORD_RE = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def _mask_one(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        masked = mask_url(url)
    except ValueError:  # e.g. a cluster URL's host list: not one port
        masked = url
    # mask_url leaves what urlsplit cannot parse; mask the userinfo anyway.
    masked = USERINFO_RE.sub(r"\1:***@", masked)
    return QUERY_PASSWORD_RE.sub(r"\1***", masked)


def mask_credentials(text: str) -> str:
    """``text`` with the password of every Redis URL in it replaced by ``***``."""
    if "://" not in text:
        return text
    return URL_RE.sub(_mask_one, text)


class MaskingFormatter(logging.Formatter):
    """The plain text format, with credentials masked in message and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_credentials(super().format(record))


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
