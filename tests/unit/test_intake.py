"""Intake: a claimed message to the envelope it runs as, decoded once."""

from __future__ import annotations

import orjson
import pytest

from taskqueue.broker import Claimed
from taskqueue.conf import QueueOptions
from taskqueue.protocol import Envelope
from taskqueue.worker import intake as intake_module
from taskqueue.worker.intake import Intake

LEGACY_TASK = "recipe.tasks.process_recipe"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The raw messages the intake decoded, in order."""
    seen: list[bytes] = []
    real = intake_module.decode

    def counting(raw: bytes, **kwargs: object) -> Envelope:
        seen.append(raw)
        return real(raw, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(intake_module, "decode", counting)
    return seen


def wrapped(task_id: str, inner: str) -> bytes:
    """A legacy message as claim.lua hands it over (claim_adopt.lua)."""
    return orjson.dumps(
        {"v": 1, "id": task_id, "p": 0, "legacy": inner, "enqueued_at": 10.5}
    )


def test_a_peeked_legacy_message_runs_adopted_and_is_decoded_once(decodes):
    intake = Intake(QueueOptions(legacy_task=LEGACY_TASK), alias="default")
    claimed = Claimed(wrapped("f00d0001", '{"recipe_id": 5}'), 0)

    assert intake.peek("default", claimed) is None  # not for an async group
    envelope = intake.envelope("default", claimed)

    assert isinstance(envelope, Envelope)
    assert (envelope.id, envelope.task, envelope.kwargs, envelope.legacy) == (
        "f00d0001", LEGACY_TASK, {"recipe_id": 5}, True,
    )  # fmt: skip
    assert envelope.enqueued_at == 10.5
    assert decodes == [claimed.raw]


def test_a_legacy_message_peeked_past_its_delivery_limit_is_still_poison(decodes):
    intake = Intake(
        QueueOptions(legacy_task=LEGACY_TASK, max_deliveries=2), alias="default"
    )
    claimed = Claimed(wrapped("f00d0002", "{'recipe_id': 6}"), 2)

    assert intake.peek("default", claimed) is None
    outcome = intake.envelope("default", claimed)

    assert not isinstance(outcome, Envelope)
    assert outcome.task_id == "f00d0002"
    assert outcome.envelope is None  # the dead letter keeps the raw message
