-- claim: heartbeat, recover dead consumers, promote due messages, claim a batch.
-- KEYS[1] pending, KEYS[2] prio, KEYS[3] scheduled, KEYS[4] my inflight,
-- KEYS[5] consumers zset, KEYS[6] redelivered hash, KEYS[7] claim numbers hash
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
-- Returns {recovered, seconds until the next scheduled message or '', the server's time,
--          raw1, redeliveries1, ...}
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local me, wake = ARGV[1], ARGV[6]
local number = tonumber(ARGV[13])
local rolled_back = tonumber(redis.call('HGET', KEYS[7], me) or '0') < number - 1
redis.call('HSET', KEYS[7], me, number)
local has_moved, moved = ARGV[7] ~= '', string.sub(ARGV[7], 2)
local seed, max_bytes, wrapped = ARGV[11], tonumber(ARGV[12]), 0
local function adopt(m)
  if string.sub(m, 1, 13) == '{"v":1,"id":"' or #m > max_bytes or not string.find(m, '^%s*{') then
    return m
  end
  wrapped = wrapped + 1
  local own = '{"v":1,"id":"' .. seed .. string.format('%04x', wrapped) .. '","p":0,"legacy":' ..
    cjson.encode(m) .. ',"enqueued_at":' .. string.format('%.6f', now) .. '}'
  -- Recovered before it was wrapped (a BLMOVE into a consumer that died): the
  -- count moves to the wrapper, which the settle clears; else it stays forever.
  local count = redis.call('HGET', KEYS[6], m)
  if count then
    redis.call('HDEL', KEYS[6], m)
    redis.call('HSET', KEYS[6], own, count)
  end
  return own
end
redis.call('ZADD', KEYS[5], now, me)

local recovered = 0
local dead = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[4]), 'LIMIT', 0, 10)
for _, consumer in ipairs(dead) do
  local key = ARGV[5] .. consumer
  local msgs = redis.call('LRANGE', key, 0, -1)
  for i = #msgs, 1, -1 do
    if msgs[i] ~= wake then
      redis.call('HINCRBY', KEYS[6], msgs[i], 1)
      redis.call('LPUSH', KEYS[1], msgs[i])
      recovered = recovered + 1
    end
  end
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[5], consumer)
  redis.call('HDEL', KEYS[7], consumer)
end

for _, msg in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[3], msg)
  local p = tonumber(string.match(msg, '^{"v":1,"id":"[^"]*","p":(%-?%d+),') or '0')
  if p ~= 0 then
    redis.call('ZADD', KEYS[2], (100 - p) * 1e13 + math.floor(now * 1000), msg)
  else
    redis.call('RPUSH', KEYS[1], msg)
  end
end

if ARGV[8] == '1' or rolled_back then
  local mine = redis.call('LRANGE', KEYS[4], 0, -1)
  redis.call('DEL', KEYS[4])
  local kept = false
  for i = #mine, 1, -1 do
    if has_moved and mine[i] == moved and not kept then kept = true
    elseif mine[i] ~= wake then redis.call('LPUSH', KEYS[1], mine[i]) end
  end
  if kept then redis.call('RPUSH', KEYS[4], moved) end
end

local claimed = {}
if has_moved and moved == wake then
  redis.call('LREM', KEYS[4], 1, wake)
elseif has_moved and not redis.call('LPOS', KEYS[4], moved) then
  has_moved = false  -- handed back meanwhile (a reset, a recovery): not mine to run
elseif has_moved then
  local own = adopt(moved)
  if own ~= moved then
    redis.call('LREM', KEYS[4], -1, moved)
    redis.call('RPUSH', KEYS[4], own)
  end
  claimed[1] = own
end
local backlog = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local want = math.min(tonumber(ARGV[2]), math.max(tonumber(ARGV[10]), math.ceil(backlog / 8))) - #claimed
local fresh = {}
local function from_prio(min, max)
  if want - #fresh <= 0 then return end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], min, max, 'LIMIT', 0, want - #fresh)) do
    redis.call('ZREM', KEYS[2], m)
    fresh[#fresh + 1] = adopt(m)
  end
end
from_prio('-inf', '(1000000000000000')
if want - #fresh > 0 then
  local items = redis.call('LPOP', KEYS[1], want - #fresh)
  if items then
    for _, m in ipairs(items) do if m ~= wake then fresh[#fresh + 1] = adopt(m) end end
  end
end
from_prio('1000000000000000', '+inf')
if #fresh > 0 then redis.call('RPUSH', KEYS[4], unpack(fresh)) end
for _, m in ipairs(fresh) do claimed[#claimed + 1] = m end

local counted = redis.call('EXISTS', KEYS[6]) == 1
local out = {recovered, '', string.format('%.6f', now)}
local next_due = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if next_due[2] then out[2] = tostring(tonumber(next_due[2]) - now) end
-- Only the first message starts now; the consumer marks later ones of a
-- slow batch itself (lua/running.lua), and settle records real times.
local first = claimed[1] and string.match(claimed[1], '^{"v":1,"id":"([^"]+)"')
if first then
  local rk = ARGV[3] .. first
  redis.call('HSETNX', rk, 'started_at', now)
  redis.call('HSET', rk, 'status', 'RUNNING', 'last_attempted_at', now, 'worker', me)
  redis.call('EXPIRE', rk, ARGV[9])
end
for _, m in ipairs(claimed) do
  out[#out + 1] = m
  out[#out + 1] = counted and tonumber(redis.call('HGET', KEYS[6], m) or '0') or 0
end
return out
