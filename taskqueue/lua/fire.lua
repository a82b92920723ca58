-- fire: claim one tick of a schedule and enqueue its run, in one step, so any
-- number of workers (and restarts, and a worker killed mid-call) give one run
-- per tick. Times are the server's (server_now); replies carry it back.
-- KEYS[1] the schedule's state hash, KEYS[2] the tick's marker,
-- KEYS[3] pending list, KEYS[4] prio zset, KEYS[5] ready hash, KEYS[6] results index
-- ARGV[1] 'tick', or 'run' (an extra run now: no tick, pause or overlap check),
-- ARGV[2] tick, ARGV[3] the tick before it ('' if none), ARGV[4] grace seconds,
-- ARGV[5] catch_up '1'/'0', ARGV[6] overlap '1'/'0', ARGV[7] marker ttl seconds,
-- ARGV[8] result key prefix, ARGV[9] wake token, ARGV[10] priority,
-- ARGV[11] task id, ARGV[12] message, ARGV[13] catch-up task id, ARGV[14] its message
-- (a gap's one run: its last tick's last_tick update is atomic, so it is once)
-- Reply: {outcome, task id, server time, last tick before a gap ('' if none),
--         catch-up task id ('')}; outcome: fired paused overlap missed done early
local state, p = KEYS[1], tonumber(ARGV[10])

local function enqueue(id, raw)
  redis.call('HSET', KEYS[5], id, raw)
  if p == 0 then
    redis.call('RPUSH', KEYS[3], raw)
  else
    if redis.call('LLEN', KEYS[3]) == 0 then redis.call('RPUSH', KEYS[3], ARGV[9]) end
    redis.call('ZADD', KEYS[4], priority_score(p, server_now()), raw)
  end
  redis.call('HSET', state, 'last_id', id, 'last_fired_at', tostring(server_now()))
  redis.call('HINCRBY', state, 'fired', 1)
end

-- Is the last run of this schedule still queued or running?
local function busy()
  local id = redis.call('HGET', state, 'last_id')
  if not id then return false end
  if redis.call('HEXISTS', KEYS[5], id) == 1 then return true end
  local status = finished_status(ARGV[8] .. id, KEYS[5], KEYS[6], id) -- results_lookup.lua
  return status == 'READY' or status == 'RUNNING'
end

local function skip(reason)
  redis.call('HINCRBY', state, 'skipped:' .. reason, 1)
  return reason
end
