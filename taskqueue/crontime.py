"""Cron ticks in local time: croniter's wall times mapped to unix instants.

Daylight saving time: a local time that occurs twice fires once, at its
first occurrence; a local time the clock jumps over fires at the next valid
instant, the end of the jump (docs/schedules.md). taskqueue/schedules.py
asks here for a cron rule's next and previous ticks.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

SCAN_LIMIT = 10_000  # cron candidates looked at for one next/previous tick
DST_MARGIN = timedelta(hours=3)  # more than any offset change of a time zone


def local(at: float, zone: ZoneInfo) -> datetime:
    """The naive local wall time of an instant."""
    return datetime.fromtimestamp(at, zone).replace(tzinfo=None)


def instant(wall: datetime, zone: ZoneInfo) -> float:
    """The instant of a local wall time: its first occurrence if repeated, the
    end of the jump if skipped."""
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    if local(first, zone) == wall:
        return first
    low, high = wall.replace(tzinfo=zone, fold=1).timestamp(), first  # around the jump
    offset = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 0.5:
        middle = (low + high) / 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return float(math.ceil(high))


def after(expr: str, zone: ZoneInfo, at: float) -> float:
    """The first tick strictly after ``at``."""
    candidates = croniter(expr, local(at, zone))
    for _ in range(SCAN_LIMIT):
        tick = instant(candidates.get_next(datetime), zone)
        if tick > at:
            return tick
    raise ValueError(f"no tick after {at} within {SCAN_LIMIT} candidates")


def before(expr: str, zone: ZoneInfo, at: float) -> float | None:
    """The last tick strictly before ``at``: the local times just before it, and
    a few hours more (a repeated hour maps later wall times to earlier instants)."""
    candidates = croniter(expr, local(at, zone) + DST_MARGIN)
    best: float | None = None
    for _ in range(SCAN_LIMIT):
        try:
            wall = candidates.get_prev(datetime)
        except (ValueError, OverflowError):
            return best
        tick = instant(wall, zone)
        if tick < at and (best is None or tick > best):
            best = tick
        if best is not None and wall < local(best, zone) - DST_MARGIN:
            return best
    return best
