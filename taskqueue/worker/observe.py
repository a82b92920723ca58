"""The executor's one hook for the tools a Django team already runs.

Around each run of a task: an OpenTelemetry span (taskqueue/tracing.py) and
a Sentry scope (taskqueue/sentry.py), whichever is set up. The executor
asks ``active()`` first, so with neither a run costs one cached boolean.
Decided at the first task of each process; ``refresh()`` decides again
(for OpenTelemetry or Sentry set up after that).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager

from taskqueue import sentry, tracing
from taskqueue.outcomes import Failed, GiveBack, Outcome, Poison, RetryLater, Succeeded
from taskqueue.protocol import Envelope
from taskqueue.switch import CachedSwitch

OUTCOMES: dict[type, str] = {
    Succeeded: "succeeded",
    Failed: "failed",
    RetryLater: "retrying",
    Poison: "poison",
    GiveBack: "given_back",  # the database was down: the message went back
}
log = logging.getLogger("taskqueue.worker")


def _either_set_up() -> bool:
    return tracing.refresh() | sentry.refresh()  # both: each caches its own answer


# Is there anything to report a run to (OpenTelemetry, Sentry)? ``refresh()``
# decides again for both.
active = CachedSwitch(_either_set_up)
refresh = active.refresh


def run(envelope: Envelope, call: Callable[[], Outcome]) -> Outcome:
    """``call()`` (one run of the envelope's task) inside its span and scope."""
    with _observed(envelope) as record:
        outcome = call()
        record(outcome)
    return outcome


def wrap_async(
    arun: Callable[[Envelope], Awaitable[Outcome]],
) -> Callable[[Envelope], Awaitable[Outcome]]:
    """``arun`` with each run inside its span and scope (asyncio tasks copy the context)."""

    async def observed(envelope: Envelope) -> Outcome:
        with _observed(envelope) as record:
            outcome = await arun(envelope)
            record(outcome)
        return outcome

    return observed


def failed(envelope: Envelope, exc: BaseException) -> None:
    """A task ended FAILED with this exception: tell Sentry."""
    sentry.capture(envelope, exc)


def flush(timeout: float = 2.0) -> None:
    """Send what the SDKs still hold: a prefork child ends with os._exit(),
    which skips the atexit handlers that would. Never raises."""
    try:
        tracing.flush(timeout)
        sentry.flush(timeout)
    except Exception:  # the process exits next: nothing may stop that
        log.warning("Could not flush spans or Sentry events", exc_info=True)


@contextmanager
def _observed(envelope: Envelope) -> Iterator[Callable[[Outcome], None]]:
    with ExitStack() as stack:
        if sentry.enabled():
            stack.enter_context(sentry.task_scope(envelope))
        if not tracing.enabled():
            yield _ignore
            return
        span = stack.enter_context(tracing.task_span(envelope))

        def record(outcome: Outcome) -> None:
            tracing.outcome(
                span,
                OUTCOMES.get(type(outcome), type(outcome).__name__.lower()),
                error_json=outcome.error_json
                if isinstance(outcome, Failed | RetryLater)
                else None,
                summary=_summary(outcome),
            )

        yield record


def _summary(outcome: Outcome) -> str:
    """Why the run did not succeed ('' when it did)."""
    if isinstance(outcome, Failed | RetryLater):
        return outcome.summary
    if isinstance(outcome, Poison):
        return outcome.reason
    return ""


def _ignore(outcome: Outcome) -> None:
    return None
