-- metadata: publish a running task's metadata in its result record (#141).
-- A record the claim has not created yet gets the result ttl, so a task that
-- is never settled leaves nothing behind for good; one that exists keeps its own.
-- KEYS[1] the task's result record
-- ARGV[1] the metadata JSON, ARGV[2] the result ttl (seconds)
redis.call('HSET', KEYS[1], 'metadata', ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
