"""Shared by the taskqueue and recipe commands: one wording for every common failure.

``TaskqueueCommand`` is the base of every command here. Whatever the
command does, an unreachable Redis, a malformed ``REDIS_URL`` or a
``TASKS`` alias that is not a RedisBackend is a one-line ``CommandError``
(exit 1, password masked), and a closed pipe
(``manage.py deadletters list | head``) ends the command quietly instead of
printing a ``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import math
import os
import sys
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from taskqueue.backends import RedisBackend
from taskqueue.connection import InvalidRedisURL, mask_credentials, mask_url
from taskqueue.exceptions import BrokerUnavailable, InvalidBackend

EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE
# A command's arguments in --help order: (flags, argparse keywords).
Options = tuple[tuple[tuple[str, ...], dict[str, Any]], ...]


def redis_location(backend: RedisBackend) -> str:
    """The backend's Redis URL, masked, without connecting (the broker may not exist)."""
    return mask_url(backend.config.redis_url)


@contextmanager
def broker_errors(backend: RedisBackend) -> Iterator[None]:
    """Turn BrokerUnavailable into a one-line CommandError (exit code 1)."""
    try:
        yield
    except BrokerUnavailable:
        raise CommandError(
            f"Redis is unavailable at {redis_location(backend)}; is it running?"
        ) from None


def positive_int(raw: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise ArgumentTypeError(f"{raw!r} must be at least 1")
    return value


def finite_seconds(raw: str) -> float:
    """argparse type: a finite, non-negative number of seconds (no nan, no inf)."""
    try:
        value = float(raw)
    except ValueError:
        raise ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ArgumentTypeError(f"{raw!r} must be a finite number of seconds >= 0")
    return value


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (tests, embedding): nothing to do
        pass
    finally:
        os.close(devnull)


class TaskqueueCommand(BaseCommand):
    """A BaseCommand whose shared failures are one line each (see the module doc)."""

    options: Options = ()  # its arguments, as a table

    def add_arguments(self, parser: ArgumentParser) -> None:
        for flags, keywords in self.options:
            parser.add_argument(*flags, **keywords)

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            output = super().execute(*args, **options)
            self.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        except BrokenPipeError:
            _silence_stdout()
            raise SystemExit(EXIT_BROKEN_PIPE) from None
        except (InvalidRedisURL, InvalidBackend) as exc:
            raise CommandError(str(exc)) from None
        except BrokerUnavailable as exc:
            raise CommandError(
                f"Redis is unavailable: {mask_credentials(str(exc))}"
            ) from None
        return output
