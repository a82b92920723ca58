-- gate: may a claimed message of a rate-limited or capped task start now?
-- (taskqueue/worker/gate.py asks, only for such tasks.) When not, it is
-- deferred: out of my in-flight list into the scheduled set, its attempt unchanged.
-- KEYS[1] my inflight, KEYS[2] scheduled, KEYS[3] consumers zset,
-- KEYS[4] the task's slots hash, KEYS[5] its waiting zset, KEYS[6] its rate hash
-- ARGV[1] consumer id, ARGV[2] task id, ARGV[3] raw, ARGV[4] concurrency (0: none),
-- ARGV[5] seconds between starts (0: no rate limit), ARGV[6] worker timeout,
-- ARGV[7] result key prefix
-- Sections (scripts.py): gate_slots.lua, then gate_rate.lua.
-- Rate: GCRA without burst. "TAT" is the earliest time the next start may
-- have; a message over the limit books that time (B:<id>), moves "TAT" on by
-- the interval and is due then, so deferred messages never crowd one moment.
-- Concurrency: slots are task id -> consumer; a consumer whose heartbeat is
-- older than the worker timeout holds none (its SIGKILL frees them). A message
-- waiting for a slot is due when a settle frees one (settle_limits.lua), at
-- the latest after the worker timeout.
-- Returns {'RUN', the server's time} | {'GONE'} (no longer mine) | {'WAIT', reason, seconds}
local inflight, scheduled, consumers, slots, waiting, rate = unpack(KEYS)
local me, id, raw = ARGV[1], ARGV[2], ARGV[3]
local cap, interval, timeout = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if not redis.call('LPOS', inflight, raw) then return {'GONE'} end
local now = server_now()
local function defer(due, reason)
  redis.call('LREM', inflight, 1, raw)
  redis.call('ZADD', scheduled, due, raw)
  local rk = ARGV[7] .. id
  if redis.call('HGET', rk, 'status') == 'RUNNING' then
    redis.call('HSET', rk, 'status', 'READY')
    redis.call('HDEL', rk, 'worker')
  end
  return {'WAIT', reason, string.format('%.6f', due - now)}
end
