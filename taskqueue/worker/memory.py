"""How big this process is now, for --max-memory-per-child.

The limit is compared with the resident size now, not the peak: a child
whose peak once passed the limit would otherwise be replaced after every
task. A limit below what a fresh child already holds could never be met;
it is ignored with a warning instead of replacing children in a loop.
"""

from __future__ import annotations

import logging
import os
import resource

log = logging.getLogger("taskqueue.worker")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def resident_kib() -> int:
    """Resident memory of this process now, in KiB (the peak where /proc is absent)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_KIB
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def usable_limit(limit_kib: int | None) -> int | None:
    """The limit, or None (with a warning) if a fresh process is already over it."""
    if not limit_kib:
        return None
    size = resident_kib()
    if size >= limit_kib:
        log.warning(
            "max_memory_per_child=%d KiB is below this child's size at start "
            "(%d KiB): ignoring it (it would replace children in a loop)",
            limit_kib,
            size,
        )
        return None
    return limit_kib
