"""One thread per web process that hears of auth changes, so requests need not ask.

Why: reading the auth stamp (``taskqueue.store.authstamp``) cost every token
request a Redis round trip, among the largest costs of ``POST /api/tasks/``.
Each change also PUBLISHes on ``P`` + ``taskqueue:auth:changes``; this
thread is subscribed and, on any message, starts a new *epoch* and clears
the process's token cache. A cache entry records the epoch it was made
under and is trusted only while that epoch is current, so:

- an entry made before a change (even one whose query read the rows just
  before the change committed) is never served after its message arrives;
- while the listener is not known to be subscribed (not started yet,
  cut off, reconnecting, after an error, in a forked child until its own
  listener is up) there is no epoch: requests read the stamp, as before;
- every (re)subscription starts a new epoch (messages may have been missed
  while away), and the cache is cleared.

Started by the first token request (a site that never sees a token never
starts it), again in a forked child (the thread does not survive a fork) and
when the default backend's URL or prefix changes (tests). It never raises
out of its thread and logs URLs and errors masked. ``stop()`` ends it (tests).
A Redis Cluster client subscribes through redis-py's ClusterPubSub (classic
pub/sub: a PUBLISH reaches subscribers on every node).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import threading
from typing import Any

from taskqueue.connection import mask_credentials
from taskqueue.exceptions import BrokerUnavailable

log = logging.getLogger("taskqueue.api")
SUBSCRIBE_TIMEOUT = 5.0  # seconds for the server to confirm a subscription
READ_TIMEOUT = 30.0  # seconds per read while idle (stop() wakes it sooner)
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)  # pauses before each resubscription
_EPOCHS = itertools.count(1)  # never repeats in a process, nor across a fork


class AuthListener:
    """The listener thread of one (Redis URL, key prefix), and its epoch."""

    def __init__(self, broker: Any, on_change: Any) -> None:
        self.key = (broker.url, broker.prefix)
        self.pid = os.getpid()
        self.epoch: int | None = None  # None: not known to be subscribed
        self._broker = broker
        self._on_change = on_change  # clears the token cache
        self._lock = threading.Lock()  # epoch writes (reads take no lock)
        self._stopping = threading.Event()
        self._feed: Any = None  # the current subscription (tests cut it)
        self._wake = f"{broker.prefix}taskqueue:auth:wake:{secrets.token_hex(8)}"
        self._thread = threading.Thread(
            target=self._run, name="taskqueue-auth-listener", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def changed(self) -> None:
        """A change seen in this process or announced: entries made before are stale."""
        with self._lock:
            if self.epoch is not None:
                self.epoch = next(_EPOCHS)
        self._on_change()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread; True once it has ended within timeout."""
        self._stopping.set()
        self._set_epoch(healthy=False)
        if self._thread.ident is None:
            return True
        with contextlib.suppress(Exception):  # the read timeout ends it anyway
            self._broker.wake_auth_listener(self._wake)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _set_epoch(self, *, healthy: bool) -> None:
        with self._lock:
            stopping = self._stopping.is_set()
            self.epoch = next(_EPOCHS) if healthy and not stopping else None

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if self._listen():
                    failures = 0
            except BrokerUnavailable as exc:
                log.warning("Auth listener: %s; requests read the stamp", exc)
            except Exception as exc:  # noqa: BLE001 (the thread must not die)
                log.warning(
                    "Auth listener failed (%s: %s); requests read the stamp",
                    type(exc).__name__,
                    mask_credentials(str(exc)),
                )
            self._set_epoch(healthy=False)
            self._stopping.wait(BACKOFF[min(failures, len(BACKOFF) - 1)])
            failures += 1

    def _listen(self) -> bool:
        """Subscribe and follow the channel until cut off; True if it subscribed."""
        feed = self._feed = self._broker.subscribe_auth_changes(self._wake)
        try:
            if not feed.subscribe(SUBSCRIBE_TIMEOUT):
                return False
            self._set_epoch(healthy=True)  # before the clear: older entries fail
            self._on_change()
            while not self._stopping.is_set():
                if feed.next(READ_TIMEOUT) == "change":
                    self.changed()
            return True
        finally:
            feed.close()


_current: AuthListener | None = None
_start_lock = threading.Lock()


def trusted_epoch(broker: Any, on_change: Any) -> int | None:
    """The epoch under which cache entries of ``broker`` are good; None: read the stamp.

    Starts the listener when there is none for this process and broker
    (the answer is None until it has subscribed). No Redis command.
    """
    listener = _current
    if (
        listener is not None
        and listener.pid == os.getpid()
        and listener.key == (broker.url, broker.prefix)
    ):
        return listener.epoch
    _replace(broker, on_change)
    return None


def changed() -> None:
    """This process announced a change: start a new epoch now (if listening)."""
    listener = _current
    if listener is not None and listener.pid == os.getpid():
        listener.changed()


def current() -> AuthListener | None:
    return _current


def stop(timeout: float = 5.0) -> bool:
    """Stop this process's listener (if any); True once it has ended."""
    global _current
    with _start_lock:
        listener, _current = _current, None
    if listener is None or listener.pid != os.getpid():
        return True
    return listener.stop(timeout)


def _replace(broker: Any, on_change: Any) -> None:
    global _current
    with _start_lock:
        old = _current
        if old is not None and old.pid == os.getpid():
            if old.key == (broker.url, broker.prefix):
                return  # another thread started it meanwhile
            old.stop(timeout=0)
        _current = AuthListener(broker, on_change)
        _current.start()
