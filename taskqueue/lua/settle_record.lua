-- settle, section 3: release the messages, record each outcome and its task's.
-- Usually the batch is the head of my in-flight list, in order: then one
-- LTRIM releases it all. Otherwise (a legacy message was adopted, a message
-- was recovered by others) each one is removed by value, if still there.
local head = redis.call('LRANGE', inflight, 0, n - 1)
local in_order = #head == n
for j = 1, n do
  if not in_order then break end
  in_order = head[j] == ARGV[SETTLE_FIRST + (j - 1) * SETTLE_FIELDS + RAW]
end
if in_order then redis.call('LTRIM', inflight, n, -1) end
local settled, recent, flows, indexed = 0, {}, {}, {} -- indexed: settle_index.lua
for i = SETTLE_FIRST, #ARGV, SETTLE_FIELDS do
  local raw, op, task_id, payload = ARGV[i + RAW], ARGV[i + OP], ARGV[i + TASK_ID], ARGV[i + PAYLOAD]
  local delay, attempt = tonumber(ARGV[i + DELAY]), ARGV[i + ATTEMPT]
  if in_order or redis.call('LREM', inflight, 1, raw) == 1 then
    settled = settled + 1
    if WIDE and ARGV[i + WORKFLOW] ~= '' then flows[#flows + 1] = i end
    if ARGV[i + REDELIVERED] == '1' then redis.call('HDEL', redelivered, raw) end
    if op == 'retry' then
      redis.call('ZADD', scheduled, now + delay, payload)
    elseif op == 'dead' then
      redis.call('HSET', dead, ARGV[i + DEAD_ID], payload)
      redis.call('HSET', dead_raw, ARGV[i + DEAD_ID], raw)
      redis.call('ZADD', dead_index, now, ARGV[i + DEAD_ID])
    end
    if task_id ~= '' then
      local msg, finished, started = ARGV[i + MSG], ARGV[i + FINISHED], ARGV[i + STARTED]
      local fields = {'status', ARGV[i + STATUS], 'msg', msg ~= '' and msg or raw}
      if op == 'retry' then
        fields[4] = payload
      else
        fields[5], fields[6] = 'finished_at', finished ~= '0' and finished or now
        fields[7], fields[8] = 'bucket', minute -- the index bucket that lists it
      end
      if op ~= 'dead' then -- 'worker:<attempt>' = '<me> <start> <finish>' (results.py)
        local span = started ~= '0' and (' ' .. started .. ' ' .. (finished ~= '0' and finished or now)) or ''
        fields[#fields + 1] = 'worker:' .. attempt; fields[#fields + 1] = me .. span
      end
      if op == 'done' and payload ~= '' then fields[#fields + 1] = 'return'; fields[#fields + 1] = payload end
      if ARGV[i + ERROR_FIELD] ~= '' then
        fields[#fields + 1] = ARGV[i + ERROR_FIELD]; fields[#fields + 1] = ARGV[i + ERROR_JSON]
      end
      if started ~= '0' then
        fields[#fields + 1] = 'last_attempted_at'; fields[#fields + 1] = started
        if attempt == '1' then fields[#fields + 1] = 'started_at'; fields[#fields + 1] = started end
      end
      local rk = prefix .. task_id
      redis.call('HSET', rk, unpack(fields))
      redis.call('EXPIRE', rk, math.ceil(ttl + delay))
      recent[#recent + 1] = task_id
      if op ~= 'retry' then indexed[#indexed + 1] = task_id end
    end
  end
end
if #recent > 0 then
  redis.call('HDEL', ready, unpack(recent))
  redis.call('LPUSH', recent_ids, unpack(recent))
  redis.call('LTRIM', recent_ids, 0, 199)
end
