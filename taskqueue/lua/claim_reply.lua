-- claim, section 7: the reply, and the first task's RUNNING mark.
local counted = redis.call('EXISTS', redelivered) == 1
local out = {recovered, '', string.format('%.6f', now), control}
local next_due = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
if next_due[2] then out[2] = tostring(tonumber(next_due[2]) - now) end
-- Only the first message starts now; the consumer marks later ones of a
-- slow batch itself (lua/running.lua), and settle records real times.
local first = claimed[1] and envelope_id(claimed[1])
if first then
  local rk = ARGV[3] .. first
  redis.call('HSETNX', rk, 'started_at', now_s)
  redis.call('HSET', rk, 'status', 'RUNNING', 'last_attempted_at', now_s, 'worker', me)
  redis.call('EXPIRE', rk, ARGV[9])
end
-- The messages follow the header in the reply as they are (claimed is the
-- reply: no copy); their redelivery counts are the header's fifth entry, a
-- list in the messages' order, or 0 when none of them has one (nearly always).
if counted then
  local counts = {}
  for i, m in ipairs(claimed) do counts[i] = tonumber(redis.call('HGET', redelivered, m) or '0') end
  out[5] = counts
else
  out[5] = 0
end
table.insert(claimed, 1, out)
return claimed
