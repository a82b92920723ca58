"""What running one message can come to. Shared by execute, the loop and tests."""

from __future__ import annotations

from dataclasses import dataclass

from taskqueue.protocol import Envelope


@dataclass(frozen=True, slots=True)
class Succeeded:
    envelope: Envelope
    value_json: bytes
    duration: float


@dataclass(frozen=True, slots=True)
class Failed:
    envelope: Envelope
    error_json: bytes
    duration: float
    summary: str
    expected: bool = False  # e.g. the row is gone: a warning, not an error


@dataclass(frozen=True, slots=True)
class RetryLater:
    envelope: Envelope
    error_json: bytes
    delay: float
    summary: str
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Poison:
    reason: str
    task_id: str = ""
    envelope: Envelope | None = None  # when the message decoded (for its record)


@dataclass(frozen=True, slots=True)
class GiveBack:
    """Not run for a reason outside the task (the database is down): its
    message goes back to the queue as it is, without spending an attempt."""

    envelope: Envelope
    summary: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not started: its rate limit or concurrency cap said wait (worker/gate.py).
    The gate script already moved its message to the scheduled set."""

    envelope: Envelope
    reason: str  # rate_limit | concurrency | gone (no longer ours)
    due_in: float = 0.0  # seconds until its message is due again


Settled = Succeeded | Failed | RetryLater | Poison  # what the settle records
Outcome = Settled | GiveBack

# The per-minute counter each outcome adds to (the dashboard's chart reads
# these names from Redis): spelled out, so renaming a class changes nothing.
MINUTE_COUNTER: dict[type, str] = {
    Succeeded: "succeeded",
    Failed: "failed",
    RetryLater: "retrylater",
    Poison: "poison",
}
