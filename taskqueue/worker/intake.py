"""Intake: the raw bytes of a claimed message to the envelope to run, or Poison.

Decoding (``decoding.decode`` range-checks every field), the delivery limit
and the adoption of the original system's messages all happen here, before
any task code: what cannot run becomes a Poison outcome, and nothing a
message holds raises past ``envelope``.
"""

from __future__ import annotations

import logging
import secrets
import time

from taskqueue.broker import Claimed
from taskqueue.conf import QueueOptions
from taskqueue.decoding import decode, visible_id
from taskqueue.exceptions import PoisonMessage
from taskqueue.outcomes import Poison
from taskqueue.protocol import Envelope
from taskqueue.retry import delivery_limit

log = logging.getLogger("taskqueue.worker")


class Intake:
    def __init__(self, options: QueueOptions, *, alias: str) -> None:
        self.options = options
        self.alias = alias
        self._peeked: dict[bytes, Envelope] = {}

    def envelope(self, queue: str, claimed: Claimed) -> Envelope | Poison:
        """The envelope to run, or the Poison outcome of a message that must not run."""
        try:
            return self._envelope(queue, claimed)
        except BaseException as exc:
            log.exception("could not read a message of queue=%s", queue)
            return Poison(f"message could not be read: {exc!r}"[:500])

    def _envelope(self, queue: str, claimed: Claimed) -> Envelope | Poison:
        try:
            envelope = self._peeked.pop(claimed.raw, None) or self._decode(
                queue, claimed.raw
            )
        except PoisonMessage as exc:
            return Poison(exc.reason, visible_id(claimed.raw))
        too_often = delivery_limit(claimed.redeliveries, self.options.max_deliveries)
        if too_often:
            return Poison(too_often, envelope.id, None if envelope.legacy else envelope)
        return self.adopt(envelope) if envelope.legacy else envelope

    def peek(self, queue: str, claimed: Claimed) -> Envelope | None:
        """The envelope of a plain, healthy message (None for anything ``envelope``
        must judge); kept, so that ``envelope`` does not decode it again.

        A legacy message is kept too (decoded, not yet adopted): it runs alone,
        through ``envelope``, but its wrapper and payload are parsed only once.
        """
        if delivery_limit(claimed.redeliveries, self.options.max_deliveries):
            return None
        try:
            envelope = self._decode(queue, claimed.raw)
        except Exception:  # noqa: BLE001 (envelope() decodes it again and says why)
            return None
        self._peeked[claimed.raw] = envelope
        return None if envelope.legacy else envelope

    def forget_peeks(self) -> None:
        self._peeked.clear()

    def runnable(self, queue: str, raw: bytes) -> Envelope | None:
        """The envelope a held message would run as (None if it could not run)."""
        try:
            envelope = self._decode(queue, raw)
        except PoisonMessage:
            return None
        adopted = self.adopt(envelope) if envelope.legacy else envelope
        return adopted if isinstance(adopted, Envelope) else None

    def adopt(self, envelope: Envelope) -> Envelope | Poison:
        """The envelope for LEGACY_TASK that an original-system payload stands for.

        claim.lua gave the message its id; one that reached us unwrapped
        (only by hand) gets a new one here.
        """
        if not self.options.legacy_task:
            return Poison(
                "legacy message, but no LEGACY_TASK is configured", envelope.id
            )
        return Envelope(
            id=envelope.id or secrets.token_hex(16), task=self.options.legacy_task,
            args=[], kwargs=envelope.kwargs, queue=envelope.queue,
            backend=self.alias, enqueued_at=envelope.enqueued_at or time.time(),
            legacy=True,
        )  # fmt: skip

    def _decode(self, queue: str, raw: bytes) -> Envelope:
        return decode(raw, max_bytes=self.options.max_message_bytes, queue=queue)
