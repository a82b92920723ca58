-- heartbeat: mark a consumer alive, on the server's clock (shared by all hosts).
-- KEYS[1] consumers zset; ARGV[1] consumer id
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
return 1
