"""Telling a database outage from a task's own database error.

A task that fails because the database is gone has done nothing wrong: its
message goes back without spending an attempt, and the consumer waits for
the database (SPEC: a database outage loses no message). A constraint or
SQL error, or a deadlock on a database that still answers, is the task's
own failure and follows its retry policy.
"""

from __future__ import annotations

from django.db import DatabaseError, connections
from django.db.utils import InterfaceError, OperationalError


def is_outage(exc: BaseException) -> bool:
    """A connection-level error, raised while a database does not answer."""
    return isinstance(exc, OperationalError | InterfaceError) and not all_answer()


def all_answer() -> bool:
    """Whether every database this thread has used answers now (reconnecting)."""
    return all(answers(alias) for alias in connections)


def answers(alias: str) -> bool:
    connection = connections[alias]
    try:
        connection.close_if_unusable_or_obsolete()
        connection.ensure_connection()
        return bool(connection.is_usable())
    except DatabaseError:
        connection.close()
        return False
