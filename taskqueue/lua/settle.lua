-- settle: record outcomes, then release the messages; never one without the other.
-- One script call, composed by the loader (taskqueue/store/scripts.py) from
-- prelude.lua, this file, settle_args.lua (the arguments' layout and check),
-- then settle_record.lua: sections of one script that share its locals.
-- KEYS[1] my inflight, KEYS[2] scheduled, KEYS[3] redelivered, KEYS[4] dead hash,
-- KEYS[5] dead index zset, KEYS[6] dead raw hash, KEYS[7] recent ids list (capped),
-- KEYS[8] ready hash (a settled task is no longer READY there),
-- KEYS[9] the queue's list, KEYS[10] the workflow key prefix (settle_workflow.lua),
-- KEYS[11] waiting hash (settle_notify.lua wakes the waiters of finished tasks)
-- KEYS[12] cancel hash (settle_cancel.lua)
-- KEYS[13] finished minutes zset, KEYS[14] finished bucket key prefix (settle_index.lua)
-- KEYS[15] the results index (results_lookup.lua: the buckets of plain successes)
-- ARGV[1] consumer id, ARGV[2] result key prefix, ARGV[3] result ttl,
-- ARGV[4] the stride, then SETTLE_FIELDS values per message (settle_args.lua).
-- Every argument is checked before anything is written: one bad argument fails
-- the whole call with nothing changed, never half a batch.
-- A message no longer in my inflight (recovered by others) is left alone.
local inflight, scheduled, redelivered, dead, dead_index, dead_raw, recent_ids, ready,
  pending, flow_prefix, waiting, cancels, finished_minutes, finished_prefix, results = unpack(KEYS)
local now = server_now()
local minute = math.floor(now / 60) -- the finished index bucket (settle_index.lua)
local me, prefix, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
-- Numbers given to redis.call are formatted (snprintf) at every call: the
-- ones every record gets are formatted once here.
local minute_s, now_s = tostring(minute), string.format('%.17g', now)
local expiry_s = ttl and tostring(math.ceil(ttl))
-- The results bucket of this call's plain successes (settle_plain.lua): a
-- sixteenth of the ttl wide, so a lookup asks at most about 17 of them.
local span = ttl and math.max(1, math.ceil(ttl / 16))
local results_start = span and math.floor(now / span) * span
local results_member = span and results_start .. ':' .. span
