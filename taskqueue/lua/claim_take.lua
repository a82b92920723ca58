-- claim, section 6: the batch from the queue into my in-flight list. Its size
-- follows the backlog (an eighth of it), within ARGV[10] and ARGV[2]: positive
-- priorities first, then the list (wake tokens dropped), then negative ones.
local prioritized = redis.call('ZCARD', prio)
local backlog = redis.call('LLEN', pending) + prioritized
local want = math.min(tonumber(ARGV[2]), math.max(tonumber(ARGV[10]), math.ceil(backlog / 8))) - #claimed
if paused then want = 0 end  -- claim_control.lua
local fresh = {}
local function from_prio(min, max)
  if want - #fresh <= 0 or prioritized == 0 then return end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', prio, min, max, 'LIMIT', '0', want - #fresh)) do
    redis.call('ZREM', prio, m)
    fresh[#fresh + 1] = adopt(m)
  end
end
from_prio('-inf', '(' .. PRIORITY_ZERO)
if want - #fresh > 0 then
  local items = redis.call('LPOP', pending, want - #fresh)
  if items then
    for _, m in ipairs(items) do if m ~= wake then fresh[#fresh + 1] = adopt(m) end end
  end
end
from_prio(PRIORITY_ZERO, '+inf')
if #fresh > 0 then redis.call('RPUSH', inflight, unpack(fresh)) end
if #claimed == 0 then claimed = fresh else for _, m in ipairs(fresh) do claimed[#claimed + 1] = m end end
