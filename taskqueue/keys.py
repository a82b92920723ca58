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
    {Q}:results                        ZSET   the results buckets, "<start>:<span>" by start (unix seconds)
    {Q}:results:<start>:<span>         HASH   task id -> packed record of a plain success that
                                              finished in [start, start + span) (expires)
    {Q}:recent                         LIST   ids of the latest settles but plain successes (capped)
    {Q}:finished:<minute>              LIST   ids of the tasks finished in that minute (server clock), in order (expires)
    {Q}:finished:minutes               ZSET   the minutes that have a bucket (score = member = the minute)
    {Q}:workflow:<id>                  HASH   a workflow's steps and messages (expires)
    {Q}:workflow:<id>:done             HASH   step task id -> final status, once per step
    {Q}:waiting                        HASH   task id -> number of waiters (only while one waits)
    {Q}:waiting:<task id>              LIST   tokens the settle pushes to wake those waiters
    {Q}:cancel                         HASH   task id -> stop|terminate, for cancelled tasks in flight
    {Q}:paused                         STRING present while the queue is paused
    {Q}:unique:<digest>                STRING id of the unique task holding that key (expires)
    {Q}:rate:<task path>               HASH   rate limit: "TAT" and "B:<id>" booked start times
    {Q}:slots:<task path>              HASH   concurrency cap: task id -> consumer running it
    {Q}:slots:<task path>:waiting      ZSET   messages deferred for a slot (also in scheduled)
    {Q}:schedule:<name>                HASH   a schedule's state: last tick, last task id, paused, counters
    {Q}:schedule:<name>:tick:<tick>    STRING a fired tick's marker (expires); Q is the schedule's queue

    P + "taskqueue:workers"            HASH   worker name -> JSON info (host, pid, current task)
    P + "taskqueue:stats:<minute>"     HASH   per-minute counters for the dashboard chart
    P + "taskqueue:stats:totals"       HASH   "status:task" -> count, all time (fleet metrics)
    P + "taskqueue:cancel"             channel  task ids cancelled in flight (pub/sub, no key)
    P + "taskqueue:auth:stamp"         STRING random, replaced on every change to tokens, users or permissions

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
    def finished_minutes(self) -> str:
        """The task list's index: the minutes (unix seconds // 60) that have a bucket."""
        return self.tag + ":finished:minutes"

    @property
    def finished_prefix(self) -> str:
        """Prefix of the task list's buckets: ``<prefix><minute>`` lists that minute's ids."""
        return self.tag + ":finished:"

    @property
    def waiting(self) -> str:
        return self.tag + ":waiting"

    def waiting_for(self, task_id: str) -> str:
        return self.tag + ":waiting:" + task_id

    @property
    def cancels(self) -> str:
        return self.tag + ":cancel"

    @property
    def paused(self) -> str:
        return self.tag + ":paused"

    @property
    def result_prefix(self) -> str:
        return self.tag + ":result:"

    @property
    def results_index(self) -> str:
        """The zset of the results buckets (lua/results_lookup.lua)."""
        return self.tag + ":results"

    def results_bucket(self, member: str) -> str:
        return self.results_index + ":" + member

    @property
    def workflow_prefix(self) -> str:
        return self.tag + ":workflow:"

    def workflow(self, workflow_id: str) -> str:
        return self.workflow_prefix + workflow_id

    def workflow_done(self, workflow_id: str) -> str:
        return self.workflow_prefix + workflow_id + ":done"

    @property
    def unique_prefix(self) -> str:
        return self.tag + ":unique:"

    def rate(self, task: str) -> str:
        return self.tag + ":rate:" + task

    def slots(self, task: str) -> str:
        return self.tag + ":slots:" + task

    def slots_waiting(self, task: str) -> str:
        return self.slots(task) + ":waiting"

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


def cancel_channel(prefix: str = "") -> str:
    """The pub/sub channel on which a cancel of a claimed task is announced."""
    return f"{prefix}taskqueue:cancel"


def auth_stamp_key(prefix: str = "") -> str:
    """Replaced whenever a token, user or permission changes (web/tokencache.py)."""
    return f"{prefix}taskqueue:auth:stamp"


def auth_changes_channel(prefix: str = "") -> str:
    """Pub/sub channel: a message on every auth stamp change (web/authlistener.py)."""
    return f"{prefix}taskqueue:auth:changes"
