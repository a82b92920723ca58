"""Who a token is, remembered per process: its user and that user's permissions.

Why: a token request cost three queries before its view ran (the token
with its user, then the user's own and group permissions for ``has_perm``),
most of what ``POST /api/tasks/`` spent. An entry keeps the token's user
with Django's ModelBackend permission caches filled in, and every request
gets a copy of its own: what a view sets on ``request.user`` never reaches
the next request.

Why an entry is never served stale: every change that could alter the
answer replaces the auth stamp in Redis and publishes that it did
(``taskqueue.web.authchanges``: a token, user, group or permission saved or
deleted, a user's or a group's permissions or a user's groups changed).
While this process's listener thread is subscribed
(``taskqueue.web.authlistener``) an entry is good only under the listener's
epoch it was made in, which every message (and every resubscription) ends:
a request then costs no Redis command. While it is not, every token request
reads the stamp first, one GET, and an entry made under another stamp is
dropped. Either way this process and every other one on the same Redis go
back to the database at their next request after the change reached them.
``TASKQUEUE_TOKEN_CACHE_SECONDS`` (default 60; 0 turns the cache off, and
the listener is never started) bounds what neither can see: a change made
with ``QuerySet.update()`` or SQL (no signals), or one announced while
Redis was down.

Not cached: unknown keys (random keys would fill the cache) and tokens of
inactive users. When neither the listener nor the stamp can vouch for an
entry (Redis down, no taskqueue backend) the request is answered from the
database, as without a cache. Permissions are cached only when Django's
ModelBackend is the only authentication backend; with any other, the user
is cached and its permissions asked on each request as before.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import django
from django.conf import settings
from django.contrib.auth import get_backends
from django.contrib.auth.backends import ModelBackend
from django.core.signals import setting_changed
from django.db.utils import DJANGO_VERSION_PICKLE_KEY
from django.dispatch import receiver
from django.utils import timezone

from taskqueue.backends import backend_for
from taskqueue.exceptions import BrokerError, BrokerUnavailable, InvalidBackend
from taskqueue.tokens import APIToken
from taskqueue.web import authlistener

DEFAULT_MAX_AGE = 60.0  # seconds; settings.TASKQUEUE_TOKEN_CACHE_SECONDS
MAX_ENTRIES = 10_000  # tokens per process; past that the cache starts afresh
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at precision: one write per minute
PERM_CACHES = ("_user_perm_cache", "_group_perm_cache", "_perm_cache")
# The attribute of a cached user holding every permission it has (its
# ModelBackend's "_perm_cache"), for require_permission's quick answer.
PERMS_ATTR = "_taskqueue_perms"

# (Redis URL, key prefix, stamp value): an entry is good under one stamp of
# one Redis only (tests and sites may point the backend elsewhere).
Stamp = tuple[str, str, bytes | None]
# What an entry was made under: a stamp read from Redis, or a listener epoch
# (an int, unique in the process; see taskqueue.web.authlistener).
Basis = Stamp | int


@dataclass(slots=True)
class Entry:
    """One token's caller; ``user`` is a template, copied for each request."""

    token_pk: int
    user: Any
    last_used_at: datetime | None
    basis: Basis
    made_at: float  # time.monotonic()


class TokenCache:
    """Entries by token key hash.

    Threads share it without a lock: a dict read or write is atomic, and
    the worst two racing threads do is both fill an entry, or lose one.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, Entry] = {}

    def get(self, key_hash: str, basis: Basis, max_age: float) -> Entry | None:
        """The entry if it was made under ``basis`` within ``max_age`` seconds."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry.basis != basis:  # something changed: every entry is suspect
            self.clear()
            return None
        if time.monotonic() - entry.made_at > max_age:
            self._entries.pop(key_hash, None)
            return None
        return entry

    def put(self, key_hash: str, entry: Entry) -> None:
        if len(self._entries) >= self.max_entries:
            self.clear()
        self._entries[key_hash] = entry

    def clear(self) -> None:
        self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)


default_cache = TokenCache()


@functools.cache
def max_age() -> float:
    """TASKQUEUE_TOKEN_CACHE_SECONDS, read once per change of the settings."""
    return float(getattr(settings, "TASKQUEUE_TOKEN_CACHE_SECONDS", DEFAULT_MAX_AGE))


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting == "TASKQUEUE_TOKEN_CACHE_SECONDS":
        max_age.cache_clear()


def caller(key_hash: str, cache: TokenCache | None = None) -> Any | None:
    """A fresh copy of the user of the token with this key hash.

    None for an unknown (or revoked) token and for an inactive user. Costs
    no query when cached (plus one UPDATE a minute for ``last_used_at``),
    and no Redis command while the listener is subscribed (one GET while
    it is not).
    """
    cache = default_cache if cache is None else cache
    seconds = max_age()
    basis = current_basis() if seconds > 0 else None
    entry = None if basis is None else cache.get(key_hash, basis, seconds)
    if entry is None:
        entry = _load(key_hash, basis)
        if entry is None:
            return None
        if basis is not None:
            cache.put(key_hash, entry)
    _touch(entry)
    return _copy(entry.user)


def _copy(user: Any) -> Any:
    """What ``copy.copy`` gives for a model instance, for a fraction of its cost.

    Django's own ``__getstate__`` (the instance dict, with its ``_state``
    and related-objects cache copied) and ``__setstate__``, without the
    ``__reduce_ex__`` round trip of the copy module (about 20 µs a request).
    """
    state = user.__getstate__()
    state[DJANGO_VERSION_PICKLE_KEY] = django.__version__  # as __reduce__ adds it
    clone = object.__new__(type(user))
    clone.__setstate__(state)
    return clone


def cached_permissions(user: Any) -> frozenset[str] | None:
    """Every permission of a user this cache gave out, or None if it does not
    know them (another authentication backend, a session's user)."""
    perms = getattr(user, "__dict__", {}).get(PERMS_ATTR)
    return perms if isinstance(perms, frozenset) else None


def current_basis() -> Basis | None:
    """The listener's epoch, else the default backend's auth stamp; None if neither.

    The first call starts the listener (its epoch comes once it has
    subscribed; until then, and whenever it is not subscribed, the stamp).
    """
    try:
        broker = backend_for().broker
    except InvalidBackend:
        return None
    epoch = authlistener.trusted_epoch(broker, default_cache.clear)
    if epoch is not None:
        return epoch
    try:
        return (broker.url, broker.prefix, broker.auth_stamp())
    except (BrokerUnavailable, BrokerError):
        return None


def _load(key_hash: str, basis: Basis | None) -> Entry | None:
    """The token and its user from the database, permissions filled in.

    ``basis`` was read before the query, so a change committed after it was
    read leaves this entry under an old stamp or epoch: dropped at the next
    request that sees the change.
    """
    token = APIToken.objects.select_related("user").filter(key_hash=key_hash).first()
    if token is None or not token.user.is_active:
        return None
    user = token.user
    if _permissions_cacheable(user):
        user.get_all_permissions()  # fills ModelBackend's caches on the user
        for name in PERM_CACHES:
            setattr(user, name, frozenset(getattr(user, name, ())))
        setattr(user, PERMS_ATTR, user._perm_cache)  # type: ignore[attr-defined]
    return Entry(token.pk, user, token.last_used_at,
                 ("", "", None) if basis is None else basis,
                 time.monotonic())  # fmt: skip


def _permissions_cacheable(user: Any) -> bool:
    """Only ModelBackend's caches are known to hold every answer it gives."""
    return hasattr(user, "get_all_permissions") and all(
        type(backend) is ModelBackend for backend in get_backends()
    )


def _touch(entry: Entry) -> None:
    now = timezone.now()
    if entry.last_used_at is None or now - entry.last_used_at > TOUCH_EVERY:
        APIToken.objects.filter(pk=entry.token_pk).update(last_used_at=now)
        entry.last_used_at = now
