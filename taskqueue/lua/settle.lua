-- settle: record outcomes, then release the messages; never one without the other.
-- KEYS[1] my inflight, KEYS[2] scheduled, KEYS[3] redelivered, KEYS[4] dead hash,
-- KEYS[5] dead index zset, KEYS[6] dead raw hash, KEYS[7] recent ids list (capped),
-- KEYS[8] ready hash (a settled task is no longer READY there)
-- ARGV[1] consumer id, ARGV[2] result key prefix, ARGV[3] result ttl,
-- then per message 4 values: raw, meta, payload (return JSON | next message |
--   dead entry JSON), error JSON; meta is '|'-separated (no field can hold a '|'):
--   op (done|retry|dead), task id ('' if none), status, error field, retry delay,
--   dead-letter id, attempt, '1' if it was redelivered, when the task really
--   started and finished (0 if it never ran; then the claim time and this
--   script's time stand), and last (it may hold '|') the envelope to record
--   as the task's message when that is not raw (a wrapped legacy message).
--   Few arguments per message: each costs the worker time to pack.
-- Every meta is checked before anything is written: one bad argument fails
-- the whole call with nothing changed, never half a batch.
-- A message no longer in my inflight (recovered by others) is left alone.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local me, prefix, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local settled = 0
local recent = {}
-- Usually the batch is the head of my in-flight list, in order: then one
-- LTRIM releases it all. Otherwise (a legacy message was adopted, a message
-- was recovered by others) each one is removed by value, if still there.
local n = (#ARGV - 3) / 4
if n == 0 then return 0 end
if n ~= math.floor(n) or not ttl then return redis.error_reply('ERR settle: bad argument count') end
local metas = {}
for j = 1, n do
  local m = {string.match(ARGV[5 + (j - 1) * 4],
    '^(%a+)|([^|]*)|(%a*)|([^|]*)|([^|]*)|(%x*)|(%d+)|([01])|([^|]*)|([^|]*)|(.*)$')}
  if not (m[1] == 'done' or m[1] == 'retry' or m[1] == 'dead') or not tonumber(m[5]) then
    return redis.error_reply('ERR settle: bad meta for message ' .. j)
  end
  metas[j] = m
end
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
local in_order = #head == n
for j = 1, n do
  if not in_order then break end
  in_order = head[j] == ARGV[4 + (j - 1) * 4]
end
if in_order then redis.call('LTRIM', KEYS[1], n, -1) end
for i = 4, #ARGV, 4 do
  local raw, payload, err_json = ARGV[i], ARGV[i + 2], ARGV[i + 3]
  local op, id, status, err_field, delay, dead_id, attempt, redelivered, started, finished, msg =
    unpack(metas[(i - 4) / 4 + 1])
  delay = tonumber(delay)
  if in_order or redis.call('LREM', KEYS[1], 1, raw) == 1 then
    settled = settled + 1
    if redelivered == '1' then redis.call('HDEL', KEYS[3], raw) end
    if op == 'retry' then
      redis.call('ZADD', KEYS[2], now + delay, payload)
    elseif op == 'dead' then
      redis.call('HSET', KEYS[4], dead_id, payload)
      redis.call('HSET', KEYS[6], dead_id, raw)
      redis.call('ZADD', KEYS[5], now, dead_id)
    end
    if id ~= '' then
      local fields = {'status', status, 'msg', msg ~= '' and msg or raw}
      if op == 'retry' then
        fields[4] = payload
      else
        fields[5], fields[6] = 'finished_at', finished ~= '0' and finished or now
      end
      if op ~= 'dead' then fields[#fields + 1] = 'worker:' .. attempt; fields[#fields + 1] = me end
      if op == 'done' and payload ~= '' then fields[#fields + 1] = 'return'; fields[#fields + 1] = payload end
      if err_field ~= '' then fields[#fields + 1] = err_field; fields[#fields + 1] = err_json end
      if started ~= '0' then
        fields[#fields + 1] = 'last_attempted_at'; fields[#fields + 1] = started
        if attempt == '1' then fields[#fields + 1] = 'started_at'; fields[#fields + 1] = started end
      end
      local rk = prefix .. id
      redis.call('HSET', rk, unpack(fields))
      redis.call('EXPIRE', rk, math.ceil(ttl + delay))
      recent[#recent + 1] = id
    end
  end
end
if #recent > 0 then
  redis.call('HDEL', KEYS[8], unpack(recent))
  redis.call('LPUSH', KEYS[7], unpack(recent))
  redis.call('LTRIM', KEYS[7], 0, 199)
end
return settled
