-- enqueue: push messages with priorities or delays, and their READY entries.
-- (Plain messages skip this script: the broker sends HSET + RPUSH.) Only
-- deferred and prioritised messages need the time (server_now, prelude.lua).
-- KEYS[1] pending list, KEYS[2] prio zset, KEYS[3] scheduled zset, KEYS[4] ready hash
-- ARGV[1] wake token, then per message: id, priority, delay seconds (0 = now), raw
local batch, ready = {}, {}
local woke = false
-- An idle worker blocks until its next known due time: tell it (with a wake
-- token in the empty list) when a message is due sooner than all it knows of.
local function wake(due)
  if woke then return end
  if due then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= due then return end
  end
  if redis.call('LLEN', KEYS[1]) == 0 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
  woke = true
end
-- Every argument is checked before anything is written: all of a batch or none.
if (#ARGV - 1) % 4 ~= 0 then return redis.error_reply('ERR enqueue: bad argument count') end
for i = 2, #ARGV, 4 do
  if not (tonumber(ARGV[i + 1]) and tonumber(ARGV[i + 2])) then
    return redis.error_reply('ERR enqueue: bad priority or delay for message ' .. ((i + 2) / 4))
  end
end
for i = 2, #ARGV, 4 do
  local id, p, delay, raw = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  ready[#ready + 1] = id
  ready[#ready + 1] = raw
  if #ready == 1000 then
    redis.call('HSET', KEYS[4], unpack(ready))
    ready = {}
  end
  if delay > 0 then
    wake(server_now() + delay)
    redis.call('ZADD', KEYS[3], server_now() + delay, raw)
  elseif p ~= 0 then
    redis.call('ZADD', KEYS[2], priority_score(p, server_now()), raw)
    wake(nil)
  else
    batch[#batch + 1] = raw
    if #batch == 1000 then
      redis.call('RPUSH', KEYS[1], unpack(batch))
      batch = {}
    end
  end
end
if #ready > 0 then redis.call('HSET', KEYS[4], unpack(ready)) end
if #batch > 0 then redis.call('RPUSH', KEYS[1], unpack(batch)) end
return #ARGV
