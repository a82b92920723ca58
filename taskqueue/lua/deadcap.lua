-- deadcap: keep a queue's dead letters within DEAD_LETTER_TTL and DEAD_LETTER_MAX.
-- KEYS[1] dead hash, KEYS[2] dead index (id -> time written), KEYS[3] dead raw hash
-- ARGV[1] ttl seconds, ARGV[2] the most to keep
-- Trims by the time index: those older than the ttl, then the oldest beyond the
-- cap, at most 1000 per call (the next call goes on). Returns how many went.
local now = server_now()
local ttl, most = tonumber(ARGV[1]), tonumber(ARGV[2])
if not ttl or not most then return redis.error_reply('ERR deadcap: bad arguments') end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - ttl), 'LIMIT', 0, 1000)
local extra = redis.call('ZCARD', KEYS[2]) - #gone - most
if extra > 0 and #gone < 1000 then
  local oldest = redis.call('ZRANGE', KEYS[2], #gone, #gone + math.min(extra, 1000 - #gone) - 1)
  for _, id in ipairs(oldest) do gone[#gone + 1] = id end
end
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[3], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
return #gone
