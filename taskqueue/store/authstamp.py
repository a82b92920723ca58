"""The auth stamp: how every web process learns that its token cache is stale.

One string key, replaced by a random value whenever a token, a user or a
permission changes (``taskqueue.web.authchanges``), and a pub/sub channel on
which each replacement is announced in the same round trip (a MULTI of SET
and PUBLISH). A web process whose listener thread is subscribed trusts its
cache with no Redis command per request (``taskqueue.web.authlistener``); one
whose listener is not (starting, cut off, reconnecting) reads the stamp once
per token request (``taskqueue.web.tokencache``). A random value rather than a
counter: a Redis that lost the key and counted up again from nothing could
otherwise show an old value once more and revive stale entries.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any

import redis
from redis.cluster import RedisCluster

from taskqueue.connection import mask_credentials
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.keys import auth_changes_channel, auth_stamp_key
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors


class AuthStamps(StoreCore):
    """Read and replace the auth stamp; subscribe to its changes."""

    @translate_errors
    def auth_stamp(self) -> bytes | None:
        """The current stamp; None while no change has been announced."""
        key = auth_stamp_key(self.prefix)
        if self.wire.plain is not None:  # a third cheaper than redis-py's get()
            value = self.wire.send(("GET", key))[0]
        else:
            value = self.client.get(key)
        return value.encode() if isinstance(value, str) else value

    @translate_errors
    def replace_auth_stamp(self) -> None:
        """Announce a change: every cache entry made under the old stamp is stale.

        SET and PUBLISH in one MULTI (one round trip), so no listener hears
        of a change the stamp does not show yet. A cluster client sends them
        one after the other (the channel has no slot to share with the key).
        """
        key, value = auth_stamp_key(self.prefix), secrets.token_hex(8)
        channel = auth_changes_channel(self.prefix)
        if isinstance(self.client, RedisCluster):
            self.client.set(key, value)
            self.client.publish(channel, value)
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.set(key, value)
        pipe.publish(channel, value)
        pipe.execute()

    @translate_errors
    def wake_auth_listener(self, channel: str) -> None:
        """Publish on ``channel`` (a listener's wake channel, see AuthChangeFeed)."""
        self.client.publish(channel, "")

    def subscribe_auth_changes(self, wake_channel: str) -> AuthChangeFeed:
        """A subscription to the changes channel and to ``wake_channel``."""
        return AuthChangeFeed(self, wake_channel)


class AuthChangeFeed:
    """The changes channel as read by one listener thread.

    Also subscribed to a channel of the listener's own, on which a message
    only wakes it (to stop without waiting out a read timeout). Every redis
    error becomes BrokerUnavailable, its text masked; the caller closes the
    feed and subscribes again with a new one.
    """

    def __init__(self, store: StoreCore, wake_channel: str) -> None:
        self._pubsub: Any = store.client.pubsub()  # type: ignore[no-untyped-call]
        self.channel = auth_changes_channel(store.prefix)
        self.wake_channel = wake_channel

    def subscribe(self, timeout: float) -> bool:
        """Subscribe; True once the server confirmed both channels within timeout.

        Only a confirmed subscription hears every later PUBLISH: one sent
        before the server ran SUBSCRIBE would be missed.
        """
        with self._translated():
            self._pubsub.subscribe(self.channel, self.wake_channel)
            confirmed: set[Any] = set()
            deadline = time.monotonic() + timeout
            while len(confirmed) < 2:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                message = self._pubsub.get_message(timeout=left)
                if message is not None and message.get("type") == "subscribe":
                    confirmed.add(message.get("channel"))
            return True

    def next(self, timeout: float) -> str | None:
        """The kind of the next message: "change", "wake", or None (nothing within timeout)."""
        with self._translated():
            message = self._pubsub.get_message(timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode(errors="replace")
        return "wake" if channel == self.wake_channel else "change"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pubsub.reset()

    @contextlib.contextmanager
    def _translated(self) -> Any:
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            raise BrokerUnavailable(
                f"auth changes subscription lost: {mask_credentials(str(exc))}"
            ) from None
