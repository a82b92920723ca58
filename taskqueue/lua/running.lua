-- running: mark a task RUNNING as it starts (the first of a claim is marked by
-- claim.lua; the consumer calls this for later tasks of a slow batch).
-- KEYS[1] the task's result record; ARGV[1] consumer id
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSETNX', KEYS[1], 'started_at', now)
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'last_attempted_at', now, 'worker', ARGV[1])
return 1
