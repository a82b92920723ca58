"""Changes that may alter what a token may do, announced to every token cache.

Receivers of Django's model signals, connected by ``TaskQueueConfig.ready``:
a token, user, group or permission saved or deleted, and a user's groups,
a user's permissions or a group's permissions changed. Each one clears this
process's cache (and ends its listener's epoch) and replaces the auth stamp
in Redis, publishing that it did in the same round trip: every other web
process's listener thread hears it, and a process whose listener is not
subscribed reads the stamp before it trusts an entry
(``taskqueue.web.tokencache``, ``taskqueue.web.authlistener``).

Inside a transaction the announcement is made again on commit: another
process could otherwise read the old rows after the first announcement
(the change not committed yet) and cache them under the new stamp. A
deletion of a group or permission is caught by its own post_delete (the
rows of the m2m tables it takes along send no m2m_changed). A login's
``last_login`` save is not a change that matters and announces nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from taskqueue.backends import backend_for
from taskqueue.exceptions import BrokerError, BrokerUnavailable, InvalidBackend
from taskqueue.tokens import APIToken
from taskqueue.web import authlistener, tokencache

log = logging.getLogger("taskqueue.api")
UID = "taskqueue.authchanges"
M2M_ACTIONS = frozenset({"post_add", "post_remove", "post_clear"})
HARMLESS_USER_FIELDS = frozenset({"last_login"})


def announce(using: str | None = None) -> None:
    """Tell every token cache that tokens, users or permissions changed."""
    _announce_now()
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_announce_now, using=using)


def _announce_now() -> None:
    tokencache.default_cache.clear()
    authlistener.changed()
    try:
        backend_for().broker.replace_auth_stamp()
    except (BrokerUnavailable, BrokerError, InvalidBackend) as exc:
        log.warning(
            "Could not replace the API's auth stamp (%s): other web processes "
            "may use cached tokens and permissions for up to %s s",
            exc,
            tokencache.max_age(),
        )


def _saved(sender: Any, using: str, update_fields: Any = None, **_: Any) -> None:
    if update_fields is not None and set(update_fields) <= HARMLESS_USER_FIELDS:
        return
    announce(using)


def _deleted(sender: Any, using: str, **_: Any) -> None:
    announce(using)


def _m2m_changed(sender: Any, action: str, using: str, **_: Any) -> None:
    if action in M2M_ACTIONS:
        announce(using)


def connect() -> None:
    """Connect the receivers (once: dispatch_uid)."""
    user_model = get_user_model()
    for model in (APIToken, user_model, Group, Permission):
        label = model._meta.label
        post_save.connect(_saved, sender=model, dispatch_uid=f"{UID}.saved.{label}")
        post_delete.connect(
            _deleted, sender=model, dispatch_uid=f"{UID}.deleted.{label}"
        )
    for through in _m2m_tables(user_model):
        m2m_changed.connect(
            _m2m_changed,
            sender=through,
            dispatch_uid=f"{UID}.m2m.{through._meta.label}",
        )


def _m2m_tables(user_model: Any) -> list[Any]:
    """The through models of user groups, user permissions, group permissions."""
    fields = [
        getattr(user_model, name, None) for name in ("groups", "user_permissions")
    ]
    return [f.through for f in fields if f is not None] + [Group.permissions.through]
