-- enqueue: store READY result records and push messages, in one round trip.
-- KEYS[1] pending list, KEYS[2] prio zset, KEYS[3] scheduled zset
-- ARGV[1] result key prefix, ARGV[2] wake token,
-- then per message: id, priority, delay seconds (0 = now), result ttl, raw
local now = nil
local function clock()  -- only deferred and prioritised messages need the time
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) + tonumber(t[2]) / 1e6
  end
  return now
end
local batch = {}
local woke = false
-- An idle worker blocks until its next known due time: tell it (with a wake
-- token in the empty list) when a message is due sooner than all it knows of.
local function wake(due)
  if woke then return end
  if due then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= due then return end
  end
  if redis.call('LLEN', KEYS[1]) == 0 then redis.call('RPUSH', KEYS[1], ARGV[2]) end
  woke = true
end
for i = 3, #ARGV, 5 do
  local id, p, delay, ttl, raw = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), ARGV[i + 4]
  local rk = ARGV[1] .. id
  redis.call('HSET', rk, 'msg', raw, 'status', 'READY')
  redis.call('EXPIRE', rk, math.ceil(ttl + delay))
  if delay > 0 then
    wake(clock() + delay)
    redis.call('ZADD', KEYS[3], clock() + delay, raw)
  elseif p ~= 0 then
    redis.call('ZADD', KEYS[2], (100 - p) * 1e13 + math.floor(clock() * 1000), raw)
    wake(nil)
  else
    batch[#batch + 1] = raw
    if #batch == 1000 then
      redis.call('RPUSH', KEYS[1], unpack(batch))
      batch = {}
    end
  end
end
if #batch > 0 then redis.call('RPUSH', KEYS[1], unpack(batch)) end
return #ARGV
