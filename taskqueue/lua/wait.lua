-- wait: count a waiter on a task in (or out), and say whether it is finished.
-- The settle pushes a token for each waiter counted here (settle_notify.lua), so
-- a waiter counts itself in, then reads the status: a task settled before it
-- was counted is seen finished here; one settled after wakes it. The hash
-- expires a minute after the last count, so a waiter that died leaves nothing.
-- KEYS[1] the queue's waiting hash, KEYS[2] the task's result record,
-- KEYS[3] the ready hash, KEYS[4] the results index (results_lookup.lua)
-- ARGV[1] the task id, ARGV[2] '1' (count in) or '-1' (count out)
-- Returns the record's status ('' if it has none yet).
local waiting, id = KEYS[1], ARGV[1]
if ARGV[2] == '1' then
  redis.call('HINCRBY', waiting, id, 1)
  redis.call('EXPIRE', waiting, 60)
elseif redis.call('HINCRBY', waiting, id, -1) <= 0 then
  redis.call('HDEL', waiting, id)
end
return finished_status(KEYS[2], KEYS[3], KEYS[4], id) or ''
