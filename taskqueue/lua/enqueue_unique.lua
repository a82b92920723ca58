-- enqueue_unique: push messages of a unique task, each only while its key is free.
-- KEYS[1] pending list, KEYS[2] prio zset, KEYS[3] scheduled zset, KEYS[4] ready hash
-- ARGV[1] wake token, ARGV[2] unique key prefix ({Q}:unique:), ARGV[3] hold milliseconds,
-- then per message: id, priority, delay seconds (0 = now), raw, key digest (hex)
-- A message's key holds its task id from here until its settle releases it
-- (settle_limits.lua) or the hold ends. Returns, per message, the id of the
-- task holding its key: its own when it was queued, else the earlier one's.
if (#ARGV - 3) % 5 ~= 0 or not tonumber(ARGV[3]) then
  return redis.error_reply('ERR enqueue_unique: bad argument count or hold')
end
for i = 4, #ARGV, 5 do
  if not (tonumber(ARGV[i + 1]) and tonumber(ARGV[i + 2]) and string.find(ARGV[i + 4], '^%x+$')) then
    return redis.error_reply('ERR enqueue_unique: bad arguments for message ' .. ((i - 1) / 5))
  end
end
local woke = false
-- As in enqueue.lua: an idle worker blocks until its next known due time.
local function wake(due)
  if woke then return end
  if due then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= due then return end
  end
  if redis.call('LLEN', KEYS[1]) == 0 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
  woke = true
end
local holders = {}
for i = 4, #ARGV, 5 do
  local id, p, delay, raw = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  local key = ARGV[2] .. ARGV[i + 4]
  if redis.call('SET', key, id, 'NX', 'PX', ARGV[3]) then
    redis.call('HSET', KEYS[4], id, raw)
    if delay > 0 then
      wake(server_now() + delay)
      redis.call('ZADD', KEYS[3], server_now() + delay, raw)
    elseif p ~= 0 then
      redis.call('ZADD', KEYS[2], priority_score(p, server_now()), raw)
      wake(nil)
    else
      redis.call('RPUSH', KEYS[1], raw)
    end
    holders[#holders + 1] = id
  else
    holders[#holders + 1] = redis.call('GET', key)
  end
end
return holders
