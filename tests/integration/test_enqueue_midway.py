"""An enqueue cut off midway leaves no READY entry without its message (issue 20)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from taskqueue.broker import Outgoing
from taskqueue.exceptions import BrokerError
from taskqueue.store.enqueue import _plain_commands
from taskqueue.store.wire import pack
from tests.conftest import wait_until


def test_a_write_cut_before_its_end_leaves_nothing(broker):
    """The bytes of an enqueue up to (not including) its last command, then the
    connection drops, as when a producer dies mid-send: Redis writes nothing."""
    k = broker.keys("default")
    commands = _plain_commands(k, Outgoing(["m1", "m2"], [b"a", b"b"]))
    url = urlsplit(broker.url)
    with socket.create_connection((url.hostname, url.port or 6379)) as sock:
        db = (url.path or "/0").strip("/") or "0"
        sock.sendall(pack([("SELECT", db)])[0] + pack(commands[:-1])[0])
        wait_until(lambda: sock.recv(4096, socket.MSG_PEEK).count(b"QUEUED") >= 2)

    assert broker.client.hlen(k.ready) == 0
    assert broker.client.llen(k.pending) == 0


def test_the_whole_write_enqueues(broker):
    k = broker.keys("default")
    broker.enqueue("default", Outgoing(["m1", "m2"], [b"a", b"b"]))
    assert broker.client.hkeys(k.ready) == [b"m1", b"m2"]
    assert broker.client.lrange(k.pending, 0, -1) == [b"a", b"b"]


def test_an_error_inside_the_transaction_is_still_raised(broker):
    """EXEC answers errors inside its reply; the enqueue raises them all the same."""
    k = broker.keys("default")
    broker.client.set(k.pending, b"not a list")
    with pytest.raises(BrokerError, match="WRONGTYPE"):
        broker.enqueue("default", Outgoing(["m1"], [b"a"]))
