"""The Redis side of taskqueue, one module per concept.

``taskqueue.broker.Broker`` is all of them over one client; the rest of
taskqueue uses that facade and never imports redis.

- ``errors``: redis errors become BrokerUnavailable or BrokerError.
- ``wire``: commands in one write, on a connection a thread holds; replies
  read later (``SettleReplies``).
- ``scripts``: the Lua scripts, composed from ``lua/prelude.lua`` and their
  parts, registered and run by SHA.
- ``core``: the client, its keys and scripts (``StoreCore``, the base of all below).
- ``enqueue``: messages in. ``claim``: into in-flight, and back.
  ``settlement``: outcomes recorded, messages released.
- ``records``: result hashes read. ``dead``: dead letters.
- ``workers``: consumer heartbeats and worker info. ``stats``: counts.
- ``authstamp``: the stamp that tells every web process its token cache is stale.
"""
