"""The scheduler thread: every worker process fires the schedules' ticks.

No leader and no beat process: each worker's thread sleeps until the next
tick is due (no Redis command in between), then calls the fire script,
which claims the tick and enqueues its run in one step; the first worker
wins and the others get "done". A worker with no schedules starts no thread.

Times are the Redis server's: the thread keeps the offset between its own
clock and the server's (TIME at start, then the server time in every fire
reply), so a host whose clock is seconds off neither fires early (the
script refuses a tick that is not due on the server's clock) nor late.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from taskqueue.broker import Broker
from taskqueue.exceptions import TaskQueueError
from taskqueue.firing import (
    Entry,
    fire_tick,
    first_attempts,
    next_attempt,
    wait_seconds,
)
from taskqueue.worker.stop import StopFlag

log = logging.getLogger("taskqueue.schedules")
RETRY_AFTER = 1.0  # seconds before trying a tick again when Redis is down
EARLY_PAUSE = 0.005  # seconds, at least, before asking again for a tick not yet due
LONGEST_SLEEP = 300.0  # re-plan at least this often (our clock may have been stepped)


class Scheduler(threading.Thread):
    def __init__(
        self, *, broker: Broker, entries: tuple[Entry, ...], alias: str, stop: StopFlag,
        clock: Callable[[], float] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name="taskqueue-scheduler", daemon=True)
        self.broker = broker
        self.entries = {schedule.name: (schedule, task) for schedule, task in entries}
        self.alias = alias
        self.stop_flag = stop
        self.clock = clock or (lambda: time.time())  # read late: tests skew it
        self.offset = 0.0  # server clock - our clock
        self.fired = 0

    def now(self) -> float:
        """Our estimate of the server's clock."""
        return self.clock() + self.offset

    def run(self) -> None:
        """Fire until stopped; no error ends this thread."""
        while not self.stop_flag.requested:
            try:
                self._run()
            except Exception:
                log.exception("scheduler failed; starting again")
                self.stop_flag.wait(RETRY_AFTER)

    def _sync(self) -> None:
        while not self.stop_flag.requested:
            try:
                self.offset = self.broker.server_time() - self.clock()
                return
            except TaskQueueError:
                self.stop_flag.wait(RETRY_AFTER)

    def _run(self) -> None:
        self._sync()
        plan = first_attempts(tuple(self.entries.values()), self.now())
        while not self.stop_flag.requested:
            name = min(plan, key=lambda n: plan[n] + self.entries[n][0].delay(plan[n]))
            entry, tick = self.entries[name], plan[name]
            pause = wait_seconds(entry[0], tick, self.now())
            if pause > 0:  # no Redis command while nothing is due
                self.stop_flag.wait(min(pause, LONGEST_SLEEP))
                continue
            try:
                fired = fire_tick(
                    self.broker, entry, alias=self.alias, tick=tick, now=self.now()
                )
            except TaskQueueError as exc:
                log.warning("Schedule %s: tick not fired yet (%s); retrying", name, exc)
                self.stop_flag.wait(RETRY_AFTER)
                plan[name] = (
                    next_attempt(entry[0], tick, self.now())
                    if self._behind(entry, tick)
                    else tick
                )
                continue
            self.offset = fired.server_now - self.clock()
            if fired.outcome == "early":  # same tick, once the server's clock is there
                self.stop_flag.wait(max(EARLY_PAUSE, tick - fired.server_now))
                continue
            self.fired += fired.outcome == "fired"
            plan[name] = next_attempt(entry[0], tick, self.now())

    def _behind(self, entry: Entry, tick: float) -> bool:
        """A tick whose successor is due already: try that one instead."""
        return entry[0].after(tick) <= self.now()


def start(
    broker: Broker, entries: tuple[Entry, ...], *, alias: str, stop: StopFlag
) -> Scheduler | None:
    """The scheduler of this process, started; None (no thread) without schedules."""
    if not entries:
        return None
    scheduler = Scheduler(broker=broker, entries=entries, alias=alias, stop=stop)
    scheduler.start()
    log.info("Scheduler started: %s", ", ".join(s.name for s, _ in entries))
    return scheduler
