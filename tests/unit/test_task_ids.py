"""Task ids: random, unique, and never shared by processes forked from one parent."""

from __future__ import annotations

import os
import re

from taskqueue.backends import _task_id


def test_ids_are_128_bit_hex_and_unique():
    ids = [_task_id() for _ in range(5000)]

    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_reuse_the_parents_buffered_ids():
    _task_id()  # the parent now holds a buffer of ids drawn in advance
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, "".join(_task_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(_task_id() for _ in range(3))

    assert len(child) == 96
    assert child != parent
