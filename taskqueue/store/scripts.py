"""The Lua scripts: composed from their files, registered, run by SHA.

Each script the server runs is one text: ``lua/prelude.lua`` (the server
clock), then its files in ``FILES`` order, ``lua/envelope.lua`` first for
those that read messages (the envelope's id and priority, the priority
score). Claim and settle are split into sections by concept
(each at most 60 lines) that share the script's locals: so a claim or a
settle is still one atomic EVALSHA, and costs what one script did (a
function per section was measured to cost the claim 5-10%).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from taskqueue.store.errors import translate_errors
from taskqueue.store.wire import Client, Command, Wire

SCRIPTS = (
    "enqueue", "claim", "settle", "requeue", "dead", "heartbeat", "running",
    "workflow", "wait", "metadata", "cancel", "enqueue_unique", "gate", "fire",
    "deadcap", "tasklist_read", "record",
)  # fmt: skip
PRELUDE = "prelude"  # the server clock, in front of every script
# The files of a script after the prelude, in order; a script not named here
# is its own file. envelope.lua reads a message's id and priority; claim and
# settle are split into sections (the one named as the script holds its
# KEYS/ARGV contract).
FILES: dict[str, tuple[str, ...]] = {
    "claim": (
        "envelope", "claim", "claim_adopt", "claim_recover", "claim_promote",
        "claim_handover", "claim_control", "claim_take", "claim_reply",
    ),
    "settle": (
        "settle", "settle_args", "settle_cancel", "settle_limits", "settle_release",
        "results_lookup", "settle_plain", "settle_record", "settle_recent", "settle_index", "settle_workflow",
        "settle_notify", "settle_reply",
    ),
    "enqueue": ("envelope", "enqueue"),
    "requeue": ("envelope", "requeue"),
    "enqueue_unique": ("envelope", "enqueue_unique"),
    "gate": ("gate", "gate_slots", "gate_rate"),
    "fire": ("envelope", "results_lookup", "fire", "fire_tick"),
    # Scripts that read a task's record, which may be a plain success's field
    # of a shared results bucket (settle_plain.lua) instead of a key.
    "record": ("results_lookup", "record"),
    "wait": ("results_lookup", "wait"),
    "cancel": ("results_lookup", "cancel"),
    "tasklist_read": ("results_lookup", "tasklist_read"),
}  # fmt: skip


@functools.cache
def lua_file(name: str) -> str:
    """The text of ``taskqueue/lua/<name>.lua``."""
    return resources.files("taskqueue").joinpath(f"lua/{name}.lua").read_text()


def compose(*names: str) -> str:
    """The prelude, then the named files, as one script text."""
    return "\n".join(lua_file(name) for name in (PRELUDE, *names))


@functools.cache
def source(name: str) -> str:
    """The whole text the server runs for a script of ``SCRIPTS``."""
    return compose(*FILES.get(name, (name,)))


class Scripts:
    """The scripts registered with one client, run by their SHA."""

    def __init__(self, client: Client, wire: Wire) -> None:
        self._client = client
        self._wire = wire
        self._registered = {
            name: client.register_script(source(name)) for name in SCRIPTS
        }

    def __getitem__(self, name: str) -> Script:
        return self._registered[name]

    def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script through redis-py (which loads it if the server lacks it).

        On a Cluster a missing script is loaded on the node of the key's
        slot only: redis-py would load it on every primary, which fails while
        one is down, and stop this queue although its own slot is up.
        """
        if self._wire.plain is None:
            return self._call_on_slot(name, keys, args)
        return self._registered[name](keys=keys, args=args)

    def _call_on_slot(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = self._registered[name].sha
        try:
            return self._client.evalsha(sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.load_on_slot(name, keys[0])
        return self._client.evalsha(sha, len(keys), *keys, *args)

    @translate_errors
    def load_on_slot(self, name: str, key: str) -> None:
        """Load one script on the primary of ``key``'s slot (a Cluster)."""
        client = self._client
        if not isinstance(client, RedisCluster):
            raise TypeError("only a cluster client has slots")
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        client.execute_command(  # type: ignore[no-untyped-call]
            "SCRIPT LOAD", source(name), target_nodes=node
        )

    def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script on the thread's held connection (the hot path: claim, settle).

        A server that lacks it lacks them all (new, restarted): every script
        is loaded, then this one runs through redis-py. A cluster client
        always goes through redis-py.
        """
        if self._wire.plain is not None:
            try:
                return self._wire.send(self.evalsha(name, keys, args))[0]
            except redis.exceptions.NoScriptError:
                self.load_all()
        return self.call(name, keys, args)

    def evalsha(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Command:
        """The EVALSHA command of a script, for ``Wire.send``/``send_ahead``."""
        return ("EVALSHA", self._registered[name].sha, len(keys), *keys, *args)

    @translate_errors
    def load_all(self) -> None:
        """Load every script now, so that none is missing behind a claim.

        A settle sent behind a claim (pipelined) that finds its script
        missing is written again only at the next confirm; loading them
        all whenever one is missing (and at worker start) avoids that.
        """
        for name in SCRIPTS:
            self._client.script_load(source(name))
