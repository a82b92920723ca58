-- claim: heartbeat, recover dead consumers, promote due messages, claim a batch.
-- One script call, composed by the loader (taskqueue/store/scripts.py) from
-- prelude.lua, this file, then claim_adopt, claim_recover, claim_promote,
-- claim_handover, claim_take and claim_reply: sections of one script that
-- share its locals (KEYS by name, now, me, wake, moved).
-- KEYS[1] pending, KEYS[2] prio, KEYS[3] scheduled, KEYS[4] my inflight,
-- KEYS[5] consumers zset, KEYS[6] redelivered hash, KEYS[7] claim numbers hash
-- KEYS[8] paused flag, KEYS[9] cancel hash (claim_control.lua)
-- ARGV[1] consumer id, ARGV[2] max batch, ARGV[3] result key prefix,
-- ARGV[4] worker timeout seconds, ARGV[5] inflight key prefix, ARGV[6] wake token,
-- ARGV[7] '' or '+' and a message BLMOVE already put in my inflight (the '+'
--         tells an empty message from none),
-- ARGV[8] '1' after a connection error: whatever else my inflight holds was
--         claimed by a call whose reply was lost, so it goes back to the head,
-- ARGV[9] result ttl (the first task's record is created here, without its message),
-- ARGV[10] smallest batch worth claiming (1; more for consumers running async tasks)
-- ARGV[11] a random id seed, ARGV[12] the message size limit: a message not in
--         our envelope form that starts with '{' (the original system's) is
--         claimed wrapped, {"v":1,"id":"<seed><n>","p":0,"legacy":"<it>",...},
--         so it has a task id of its own from its first claim on
-- ARGV[13] the number of this claim of mine (1, 2, ...): when Redis holds an
--         older number than my last, it went back in time (a restart from an
--         old snapshot, a failover to a lagging replica) and my in-flight list
--         holds what I no longer know of: it goes back, as after ARGV[8]
-- Returns {{recovered, seconds until the next scheduled message or '', the server's time,
--          control ('', 'P', 'C' or 'PC': claim_control.lua), redeliveries}, raw1, raw2, ...}:
--          redeliveries is 0 when no message has any, else a list of counts in order
local pending, prio, scheduled, inflight, consumers, redelivered, claims = unpack(KEYS, 1, 7)
local now = server_now()
-- A number given to redis.call is formatted (snprintf, ~3k instructions) at
-- every call: the time is formatted once, constants are written as strings.
local now_s = string.format('%.17g', now)
local me, wake = ARGV[1], ARGV[6]
local number = tonumber(ARGV[13])
local rolled_back = tonumber(redis.call('HGET', claims, me) or '0') < number - 1
redis.call('HSET', claims, me, ARGV[13])
local has_moved, moved = ARGV[7] ~= '', string.sub(ARGV[7], 2)
redis.call('ZADD', consumers, now_s, me)
