"""Redis clients from a URL, and the functions that make a URL safe to show.

``mask_url`` masks one URL, ``mask_credentials`` every URL in a text; every
log line, command error and page that shows a Redis URL goes through them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.sentinel import Sentinel

from taskqueue import embedded
from taskqueue.exceptions import BrokerUnavailable, TaskQueueError

SCHEMES = (
    "redis", "rediss", "unix",
    "redis+cluster", "rediss+cluster",
    "redis+sentinel", "rediss+sentinel",
)  # fmt: skip


class InvalidRedisURL(TaskQueueError, ValueError):
    """REDIS_URL cannot be used as written (scheme, port, host); the message is masked."""


# Query parameters that carry a secret: password=, sentinel_password=, ...
SECRET_PARAM_RE = re.compile(r"([?&][^=&#\s]*pass[^=&#\s]*=)[^&#\s]*", re.IGNORECASE)
SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def mask_url(url: str | None) -> str:
    """The URL with every credential replaced by ``***``; never raises.

    Masks the userinfo password (``redis://:pw@h``, ``redis://user:pw@h``;
    a userinfo without a colon is masked whole, since some write the
    password there), and every query parameter whose name contains
    ``pass`` (``?password=``, ``sentinel_password=``). Written with plain
    string operations rather than ``urlsplit``, which raises on the very
    URLs an error message must show (a bad IPv6 host, a cluster's host list).
    """
    if not url:
        return "(embedded)"
    scheme = SCHEME_RE.match(url)
    if scheme is None:
        return SECRET_PARAM_RE.sub(r"\1***", url)
    head, rest = url[: scheme.end()], url[scheme.end() :]
    userinfo, at, hosts = rest.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}:***@{hosts}" if colon else f"***@{hosts}"
    return head + SECRET_PARAM_RE.sub(r"\1***", rest)


def resolve_url(url: str | None, embedded_dir: str | Path | None) -> str:
    """The URL to use: the configured one (checked), else the shared embedded server.

    Raises InvalidRedisURL for a URL no client could use, so every command
    can say so in one line instead of a traceback from deep in redis-py.
    """
    if url:
        check_url(url)
        return url
    if embedded_dir is None:
        raise ValueError("no REDIS_URL and no EMBEDDED_DIR: nowhere to find Redis")
    return embedded.ensure_running(Path(embedded_dir))


def check_url(url: str) -> None:
    """Raise InvalidRedisURL unless the scheme is known and every host:port parses."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise InvalidRedisURL(f"malformed Redis URL {mask_url(url)}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise InvalidRedisURL(
            f"unsupported Redis URL scheme {parts.scheme!r} in {mask_url(url)}; "
            f"use one of {', '.join(SCHEMES)}"
        )
    if parts.scheme == "unix":
        return
    try:
        _hosts(parts.netloc, 6379)
    except ValueError:
        raise InvalidRedisURL(
            f"malformed Redis URL {mask_url(url)}: a port is not a number 1-65535"
        ) from None


def make_client(url: str, **options: Any) -> redis.Redis | RedisCluster:
    """A new client (``redis.Redis`` or ``RedisCluster``) for the URL.

    redis-py's own retries are off: a script whose reply was lost may have
    run, and retrying it blindly could claim messages twice or strand them.
    The worker retries on its own terms (see worker/loop.py and settle.py).
    A cluster client connects as it is made: an unreachable cluster raises
    BrokerUnavailable here, a URL redis-py refuses raises InvalidRedisURL.
    """
    options.setdefault("health_check_interval", 30)
    options.setdefault("retry", Retry(NoBackoff(), 0))
    scheme = urlsplit(url).scheme
    try:
        if scheme.endswith("+cluster"):
            return _cluster_client(url, **options)
        if scheme.endswith("+sentinel"):
            return _sentinel_client(url, **options)
        return redis.Redis.from_url(url, **options)
    except (redis.ConnectionError, redis.TimeoutError, RedisClusterException) as exc:
        raise BrokerUnavailable(
            f"cannot connect to {mask_url(url)}: {mask_credentials(str(exc))}"
        ) from None
    except (ValueError, TypeError) as exc:
        raise InvalidRedisURL(
            f"malformed Redis URL {mask_url(url)}: {mask_credentials(str(exc))}"
        ) from None


def mask_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it masked (see mask_url)."""
    if "://" not in text:
        return SECRET_PARAM_RE.sub(r"\1***", text) if "pass" in text.lower() else text
    return URL_RE.sub(lambda match: mask_url(match.group(0)), text)


# A URL as it appears in prose: up to whitespace or a quote. Brackets stay in
# (an IPv6 host, a password with a parenthesis); masking only rewrites the
# userinfo and secret parameters, so trailing punctuation is kept as it is.
URL_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    """The host:port pairs of a URL's netloc, which may list several, comma-separated."""
    pairs = []
    for hostport in netloc.rsplit("@", 1)[-1].split(","):
        if hostport.startswith("["):  # [IPv6]:port
            host, _, port = hostport[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = hostport.partition(":")
        number = int(port or default_port)
        if not 0 < number < 65536:
            raise ValueError(f"port {number} is out of range")
        pairs.append((host, number))
    return pairs


def _sentinel_client(url: str, **options: Any) -> redis.Redis:
    """The current master of ``redis+sentinel://[:pw@]h1:26379,h2:26379/service[/db]``.

    The client asks the sentinels for the master again after a failover, so
    a worker follows the new master through its usual reconnect path.
    """
    parts = urlsplit(url)
    path = [piece for piece in parts.path.split("/") if piece]
    if not path:
        raise ValueError(
            f"{mask_url(url)}: name the sentinel service, e.g. /mymaster/0"
        )
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    options.pop("health_check_interval", None)
    timeout = options.get("socket_connect_timeout", 5)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _hosts(parts.netloc, 26379),
        # Asking the sentinels is not retried by redis-py either (it backed
        # off for 4.5 s per unreachable sentinel): the worker's outage
        # backoff asks again.
        sentinel_kwargs={
            "socket_timeout": timeout, "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        },
    )  # fmt: skip
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        service,
        db=db,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        ssl=parts.scheme.startswith("rediss"),
        **options,
    )
    return client


def _cluster_client(url: str, **options: Any) -> RedisCluster:
    parts = urlsplit(url)
    nodes = [
        ClusterNode(host, port)  # type: ignore[no-untyped-call]
        for host, port in _hosts(parts.netloc, 6379)
    ]
    options.pop("health_check_interval", None)
    retry = options.pop("retry")
    # The client asks its default node (the first master) for COMMAND as it is
    # made; with no retry a fresh process could not start while that master is
    # down, though the other masters serve their slots. So the start-up may try
    # other nodes; every command after it has the caller's retry (none).
    client = RedisCluster(
        startup_nodes=nodes,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        ssl=parts.scheme.startswith("rediss"),
        retry=Retry(NoBackoff(), len(nodes) + 2),
        **options,
    )
    client.set_retry(retry)
    return client
