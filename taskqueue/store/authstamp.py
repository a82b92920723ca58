"""The auth stamp: how every web process learns that its token cache is stale.

One string key, replaced by a random value whenever a token, a user or a
permission changes (``taskqueue.web.authchanges``) and read once per token
request (``taskqueue.web.tokencache``). A random value rather than a
counter: a Redis that lost the key and counted up again from nothing could
otherwise show an old value once more and revive stale entries.
"""

from __future__ import annotations

import secrets

from taskqueue.keys import auth_stamp_key
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors


class AuthStamps(StoreCore):
    """Read and replace the auth stamp (one GET, one SET)."""

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
        """Announce a change: every cache entry made under the old stamp is stale."""
        self.client.set(auth_stamp_key(self.prefix), secrets.token_hex(8))
