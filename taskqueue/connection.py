"""Redis clients from a URL, and the one function that makes a URL safe to log."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from taskqueue import embedded

SCHEMES = (
    "redis", "rediss", "unix",
    "redis+cluster", "rediss+cluster",
    "redis+sentinel", "rediss+sentinel",
)  # fmt: skip


def mask_url(url: str | None) -> str:
    """The URL with its password replaced by ``***`` (every log line uses this)."""
    if not url:
        return "(embedded)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    # The host part is kept as written: a cluster URL lists several
    # host:port pairs, which urlsplit's .port cannot parse.
    userinfo, _, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}:***@{hosts}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def resolve_url(url: str | None, embedded_dir: str | Path | None) -> str:
    """The URL to use: the configured one, else the shared embedded server."""
    if url:
        scheme = urlsplit(url).scheme
        if scheme not in SCHEMES:
            raise ValueError(
                f"unsupported Redis URL scheme {scheme!r} in {mask_url(url)}; "
                f"use one of {', '.join(SCHEMES)}"
            )
        return url
    if embedded_dir is None:
        raise ValueError("no REDIS_URL and no EMBEDDED_DIR: nowhere to find Redis")
    return embedded.ensure_running(Path(embedded_dir))


def make_client(url: str, **options: Any) -> Any:
    """A new client (``redis.Redis`` or ``RedisCluster``) for the URL.

    redis-py's own retries are off: a script whose reply was lost may have
    run, and retrying it blindly could claim messages twice or strand them.
    The worker retries on its own terms (see worker/loop.py and settle.py).
    """
    options.setdefault("health_check_interval", 30)
    options.setdefault("retry", Retry(NoBackoff(), 0))
    scheme = urlsplit(url).scheme
    if scheme.endswith("+cluster"):
        return _cluster_client(url, **options)
    if scheme.endswith("+sentinel"):
        return _sentinel_client(url, **options)
    return redis.Redis.from_url(url, **options)


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    """The host:port pairs of a URL's netloc, which may list several, comma-separated."""
    pairs = []
    for hostport in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = hostport.partition(":")
        pairs.append((host, int(port or default_port)))
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
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _hosts(parts.netloc, 26379),
        socket_timeout=options.get("socket_connect_timeout", 5),
    )
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
    return RedisCluster(
        startup_nodes=nodes,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        ssl=parts.scheme.startswith("rediss"),
        **options,
    )
