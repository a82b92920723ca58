-- adopt: give a legacy message a task id by replacing it in my inflight
-- with its envelope, so every redelivery keeps that id.
-- KEYS[1] my inflight, KEYS[2] redelivered hash, KEYS[3] the new result record
-- ARGV[1] legacy raw, ARGV[2] envelope raw, ARGV[3] consumer id, ARGV[4] result ttl
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
local count = redis.call('HGET', KEYS[2], ARGV[1])
if count then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[2], count)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', KEYS[3], 'msg', ARGV[2], 'status', 'RUNNING', 'started_at', now,
  'last_attempted_at', now, 'worker', ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
