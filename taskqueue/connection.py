"""Redis clients from a URL, and the one function that makes a URL safe to log."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from taskqueue import embedded

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")

_clients: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


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
    return redis.Redis.from_url(url, **options)


def _cluster_client(url: str, **options: Any) -> RedisCluster:
    parts = urlsplit(url)
    nodes = []
    for hostport in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = hostport.partition(":")
        nodes.append(ClusterNode(host, int(port or 6379)))  # type: ignore[no-untyped-call]
    options.pop("health_check_interval", None)
    return RedisCluster(
        startup_nodes=nodes,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        ssl=parts.scheme.startswith("rediss"),
        **options,
    )


def shared_client(url: str) -> Any:
    """One client per URL and process (reset after fork by the pid in the key)."""
    import os

    key = (url, os.getpid())
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = make_client(url)
                _clients[key] = client
    return client
