"""Broker: the only code that sends queue commands to Redis.

A facade: each concern lives in its own module of ``taskqueue.store`` (see
its docstring), and ``Broker`` is all of them over one client. Every
operation that changes more than one key is one Lua script (see lua/), and
every key a script touches carries the queue's hash tag. Connection errors
leave as BrokerUnavailable; nothing above this module imports redis.
"""

from __future__ import annotations

from taskqueue.connection import make_client, resolve_url
from taskqueue.store.authstamp import AuthStamps
from taskqueue.store.claim import Claimed, Claiming, ClaimPolicy, ClaimResult
from taskqueue.store.control import Control
from taskqueue.store.dead import DeadLetters
from taskqueue.store.durability import Durability
from taskqueue.store.enqueue import Enqueuing, Outgoing
from taskqueue.store.errors import translate_errors
from taskqueue.store.gating import Gating
from taskqueue.store.messages import MessageReads
from taskqueue.store.metadata import MetadataWrites
from taskqueue.store.retries import RetryLinks
from taskqueue.store.schedules import ScheduleStore
from taskqueue.store.settlement import Settlement
from taskqueue.store.stats import QueueStats, Statistics
from taskqueue.store.tasklist import TaskIndexReads
from taskqueue.store.unique import UniqueEnqueuing
from taskqueue.store.waiting import Waiting
from taskqueue.store.wire import Client, SettleReplies
from taskqueue.store.workers import Registry
from taskqueue.store.workflows import WorkflowStore

__all__ = [
    "Broker", "ClaimPolicy", "ClaimResult", "Claimed", "Client", "Durability",
    "Outgoing", "QueueStats", "SettleReplies", "Settlement", "translate_errors",
]  # fmt: skip


class Broker(
    Claiming,
    Enqueuing,
    DeadLetters,
    Registry,
    Statistics,
    Waiting,
    MetadataWrites,
    WorkflowStore,
    Control,
    UniqueEnqueuing,
    Gating,
    ScheduleStore,
    MessageReads,
    RetryLinks,
    TaskIndexReads,  # and ResultReads, which the task list's rows read through
    AuthStamps,
):
    """Queue operations over one Redis (or Redis Cluster) connection."""

    @classmethod
    def connect(
        cls, url: str | None, *, embedded_dir: str | None = None, prefix: str = "",
        durability: Durability | None = None,
    ) -> Broker:  # fmt: skip
        """A broker with its own client; starts the embedded server when needed.

        ``durability`` (from DURABILITY "replicated") makes its enqueues,
        claims and settles wait for replicas; None leaves them as they are.
        """
        resolved = resolve_url(url, embedded_dir)
        client = make_client(resolved, socket_timeout=30, socket_connect_timeout=5)
        broker = cls(client, url=resolved, prefix=prefix)
        broker.require_replicas(durability)
        return broker
