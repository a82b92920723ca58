-- running: mark a task RUNNING as it starts (the first of a claim is marked by
-- claim.lua; the consumer calls this for later tasks of a slow batch).
-- Fenced: only the consumer whose in-flight list holds the message may write
-- (a worker that stalled while others recovered and finished its batch must
-- not mark finished tasks RUNNING again when it resumes).
-- KEYS[1] the task's result record, KEYS[2] my in-flight list
-- ARGV[1] consumer id, ARGV[2] the message as claimed
if not redis.call('LPOS', KEYS[2], ARGV[2]) then return 0 end
local now = server_now()
redis.call('HSETNX', KEYS[1], 'started_at', now)
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'last_attempted_at', now, 'worker', ARGV[1])
return 1
