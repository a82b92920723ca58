-- heartbeat: mark a consumer alive, on the server's clock (shared by all hosts).
-- KEYS[1] consumers zset; ARGV[1] consumer id
redis.call('ZADD', KEYS[1], server_now(), ARGV[1])
return 1
