"""StoreCore: what every part of the store shares over one Redis client.

The client, its key names per queue, the wire and the scripts. The parts
(claim, enqueue, settlement, records, dead letters, workers, stats) are
subclasses of it, and ``taskqueue.broker.Broker`` is all of them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskqueue.connection import mask_url
from taskqueue.exceptions import NotDurable, NotReplicated
from taskqueue.keys import QueueKeys
from taskqueue.store.durability import Durability, ReplicatedWrites
from taskqueue.store.errors import translate_errors
from taskqueue.store.scripts import Scripts
from taskqueue.store.wire import Client, Wire


class StoreCore:
    """One Redis (or Redis Cluster) client, with the keys and scripts of taskqueue."""

    def __init__(self, client: Client, *, url: str, prefix: str = "") -> None:
        self.client = client
        self.url = url
        self.prefix = prefix
        self.wire = Wire(client)
        self.scripts = Scripts(client, self.wire)
        self._keys: dict[str, QueueKeys] = {}
        # DURABILITY "replicated": writes followed by WAIT; None (the default,
        # "primary"): the hot path checks this attribute and nothing else.
        self.replicated: ReplicatedWrites | None = None

    def require_replicas(self, durability: Durability | None) -> None:
        """Make enqueue, claim and settle wait for replicas (None: they do not)."""
        self.replicated = (
            None
            if durability is None
            else ReplicatedWrites(
                self.client, self.wire, self.scripts, durability=durability
            )
        )

    def enqueue_script(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, ids: Sequence[str]
    ) -> Any:
        """Run a script that enqueues tasks (unique, workflow, schedule tick).

        Under DURABILITY "replicated" it is followed by WAIT, like a plain
        enqueue, and too few replicas raise NotDurable naming ``ids``.
        """
        if self.replicated is None:
            return self.scripts.call(name, keys, args)
        try:
            return self.replicated.script(name, keys, args)
        except NotReplicated as exc:
            raise NotDurable(
                f"enqueued on the primary, not proven replicated ({exc}); the "
                "tasks may exist: check get_result(id) before enqueuing them again",
                task_ids=tuple(ids), acknowledged=exc.acknowledged, wanted=exc.wanted,
            ) from exc  # fmt: skip

    @property
    def safe_url(self) -> str:
        return mask_url(self.url)

    def keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys.for_queue(queue, self.prefix)
        return keys

    @translate_errors
    def ping(self) -> bool:
        return bool(self.client.ping())

    def load_scripts(self) -> None:
        """Load every script now (at worker start; see ``Scripts.load_all``)."""
        self.scripts.load_all()

    def close(self) -> None:
        self.client.close()
