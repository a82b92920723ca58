"""Error translation: nothing above the store sees redis-py's exception classes.

Connection trouble and refusals become BrokerUnavailable (back off and
retry); any other error reply becomes BrokerError.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis

from taskqueue.exceptions import BrokerError, BrokerUnavailable

P = ParamSpec("P")
R = TypeVar("R")

# Errors after which nothing ran, or whose reply was lost: back off and retry.
# Cluster errors (CLUSTERDOWN, TRYAGAIN, slot moves: MOVED, ASK) are refused
# before a script runs, so they are as safe to retry as a dropped connection:
# after a replica's promotion the client asks for the slot map again.
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,  # and MovedError, its subclass
    redis.exceptions.RedisClusterException,
)


# Error replies of a server that refuses to work for now, before the command
# (or a script's first write) changes anything: out of memory, a replica, a
# failing disk, a long script, loading, no primary, a failover under way (a
# primary that is handing over: FAILOVER; a blocked command ended by the
# change of role: UNBLOCKED). An outage, like a cut.
# Inside a script the code follows the script's name: matched as a word.
REFUSED = re.compile(
    r"\b(?:OOM|READONLY|MISCONF|BUSY|LOADING|MASTERDOWN|NOREPLICAS|CLUSTERDOWN"
    r"|TRYAGAIN|FAILOVER|UNBLOCKED) "
)


def translate_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every redis error into a taskqueue error at the boundary.

    Connection trouble and refusals become BrokerUnavailable (back off and
    retry); any other error reply (a key of the wrong type, a script error)
    becomes BrokerError, so nothing above the store sees redis's classes.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except UNAVAILABLE as exc:
            raise BrokerUnavailable(f"Redis unavailable: {exc}") from exc
        except redis.RedisError as exc:
            if REFUSED.search(str(exc)[:300]) or isinstance(exc, refused_classes()):
                raise BrokerUnavailable(f"Redis refused the command: {exc}") from exc
            raise BrokerError(f"Redis error: {exc}") from exc

    return wrapper


@functools.cache
def refused_classes() -> tuple[type[Exception], ...]:
    """redis-py's own classes for the refusals (it strips the error code)."""
    names = ("OutOfMemoryError", "ReadOnlyError", "BusyLoadingError")
    return tuple(
        getattr(redis.exceptions, name)
        for name in names
        if hasattr(redis.exceptions, name)
    )
