-- cancel: stop a task that has not finished (docs/cancel.md).
-- KEYS[1] pending list, KEYS[2] prio, KEYS[3] scheduled, KEYS[4] ready hash,
-- KEYS[5] the task's result record, KEYS[6] the queue's cancel hash,
-- KEYS[7] recent ids list, KEYS[8] finished minutes zset, KEYS[9] finished bucket
-- prefix (the task list's index, settle_index.lua), KEYS[10] the results index
-- (results_lookup.lua: a plain success has no status field of its own)
-- ARGV[1] task id, ARGV[2] result ttl, ARGV[3] the TaskCancelled error JSON,
-- ARGV[4] 'stop' (ask it to stop) or 'terminate' (stop its process),
-- ARGV[5] the channel that tells workers a queue has a cancel in flight,
-- ARGV[6] the unique key prefix (a unique task taken out lets its key go)
-- Returns 'UNKNOWN'; 'FINISHED'; 'CANCELLED' (taken out of the queue before it
-- started: FAILED now); or 'FLAGGED' (claimed by a worker: the id goes into the
-- cancel hash, and the worker holding it never starts it or asks it to stop).
-- The record keeps a 'cancel' field either way, so the cancel lives as long
-- as the result (and survives a restart with the rest of the data set).
local pending, prio, scheduled, ready, record, cancels, recent, minutes, buckets, results = unpack(KEYS)
local id, ttl = ARGV[1], tonumber(ARGV[2])
local status = finished_status(record, ready, results, id)
if status == 'SUCCESSFUL' or status == 'FAILED' then return 'FINISHED' end
local msg = redis.call('HGET', ready, id) or redis.call('HGET', record, 'msg')
if not msg and not status then return 'UNKNOWN' end
local removed = 0
-- A workflow step stays where it is, flagged: the worker that claims it skips
-- it and its settle stops the workflow (settle_workflow.lua), as for any step.
if msg and not string.find(msg, ',"workflow":"', 1, true) then
  removed = redis.call('LREM', pending, 1, msg) + redis.call('ZREM', prio, msg)
    + redis.call('ZREM', scheduled, msg)
end
redis.call('HSET', record, 'cancel', ARGV[4])
redis.call('EXPIRE', record, ttl)
if removed == 0 then
  redis.call('HSET', cancels, id, ARGV[4])
  redis.call('PUBLISH', ARGV[5], id)
  return 'FLAGGED'
end
local minute = math.floor(server_now() / 60) -- it finished now: the task list shows it
redis.call('HSET', record, 'status', 'FAILED', 'msg', msg, 'finished_at', server_now(),
  'error:cancel', ARGV[3], 'bucket', minute)
redis.call('HDEL', ready, id)
local digest = string.match(msg, ',"unique":"(%x+)"}$') -- protocol.with_unique
if digest and redis.call('GET', ARGV[6] .. digest) == id then redis.call('DEL', ARGV[6] .. digest) end
redis.call('LPUSH', recent, id)
redis.call('LTRIM', recent, 0, 199)
if redis.call('RPUSH', buckets .. minute, id) == 1 then -- a new bucket: as settle_index.lua
  redis.call('EXPIRE', buckets .. minute, math.ceil(ttl) + 60)
  redis.call('ZADD', minutes, minute, minute)
  redis.call('ZREMRANGEBYSCORE', minutes, '-inf', '(' .. (minute - math.ceil(ttl / 60) - 1))
end
return 'CANCELLED'
