"""Every Redis key taskqueue uses. Nothing else builds key names.

Key schema (``P`` is the optional ``KEY_PREFIX`` option, empty by default)::

    Q = P + "task_queue"              default queue: the original system's list
    Q = "{" + P + "task_queue:<name>}"  any other queue

    Q                                  LIST   pending messages (RPUSH in, claimed from the head)
    {Q}:prio                           ZSET   pending messages with priority != 0
    {Q}:scheduled                      ZSET   deferred messages (run_after, retries) by due time
    {Q}:inflight:<consumer>            LIST   messages a consumer has claimed, until settled
    {Q}:consumers                      ZSET   consumer id -> last heartbeat (unix seconds)
    {Q}:claims                         HASH   consumer id -> number of its last claim (rollback check)
    {Q}:redelivered                    HASH   raw message -> times it was recovered from a dead consumer
    {Q}:dead                           HASH   dead-letter id -> JSON entry (raw bytes, reason, time)
    {Q}:dead:index                     ZSET   dead-letter id -> time parked
    {Q}:dead:raw                       HASH   dead-letter id -> the message's raw bytes
    {Q}:ready                          HASH   task id -> message, for queued tasks not yet settled
    {Q}:result:<task id>               HASH   result record of one task (expires)
    {Q}:recent                         LIST   ids of the latest settled tasks (capped)
    {Q}:schedule:<name>                HASH   a schedule's state: last tick, last task id, paused, counters
    {Q}:schedule:<name>:tick:<tick>    STRING a fired tick's marker (expires); Q is the schedule's queue

    P + "taskqueue:workers"            HASH   worker name -> JSON info (host, pid, current task)
    P + "taskqueue:stats:<minute>"     HASH   per-minute counters for the dashboard chart
    P + "taskqueue:stats:totals"       HASH   "status:task" -> count, all time (fleet metrics)

Everything one Lua script touches for a queue carries the queue's hash tag,
so every script runs on Redis Cluster; queues spread over the cluster by name.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_QUEUE = "default"
LEGACY_KEY = "task_queue"


def queue_base(name: str, prefix: str = "") -> str:
    """The queue's list key; its hash tag names the queue's slot."""
    if name == DEFAULT_QUEUE:
        return prefix + LEGACY_KEY
    return "{" + prefix + LEGACY_KEY + ":" + name + "}"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue."""

    name: str
    pending: str
    tag: str

    @classmethod
    def for_queue(cls, name: str, prefix: str = "") -> QueueKeys:
        base = queue_base(name, prefix)
        tag = base if base.startswith("{") else "{" + base + "}"
        return cls(name=name, pending=base, tag=tag)

    @property
    def prio(self) -> str:
        return self.tag + ":prio"

    @property
    def scheduled(self) -> str:
        return self.tag + ":scheduled"

    @property
    def ready(self) -> str:
        return self.tag + ":ready"

    @property
    def consumers(self) -> str:
        return self.tag + ":consumers"

    @property
    def redelivered(self) -> str:
        return self.tag + ":redelivered"

    @property
    def claims(self) -> str:
        return self.tag + ":claims"

    @property
    def dead(self) -> str:
        return self.tag + ":dead"

    @property
    def dead_raw(self) -> str:
        return self.tag + ":dead:raw"

    @property
    def dead_index(self) -> str:
        return self.tag + ":dead:index"

    @property
    def recent(self) -> str:
        return self.tag + ":recent"

    @property
    def result_prefix(self) -> str:
        return self.tag + ":result:"

    def schedule(self, name: str) -> str:
        return self.tag + ":schedule:" + name

    def schedule_tick(self, name: str, tick: str) -> str:
        return self.tag + ":schedule:" + name + ":tick:" + tick

    def inflight(self, consumer: str) -> str:
        return self.tag + ":inflight:" + consumer

    def result(self, task_id: str) -> str:
        return self.result_prefix + task_id


def workers_key(prefix: str = "") -> str:
    return prefix + "taskqueue:workers"


def stats_key(minute: int, prefix: str = "") -> str:
    return f"{prefix}taskqueue:stats:{minute}"


def totals_key(prefix: str = "") -> str:
    """Fleet-wide finished-task counts, never expiring: field ``status:task``."""
    return f"{prefix}taskqueue:stats:totals"
