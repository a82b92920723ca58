-- settle: record outcomes, then release the messages; never one without the other.
-- KEYS[1] my inflight, KEYS[2] scheduled, KEYS[3] redelivered, KEYS[4] dead hash,
-- KEYS[5] dead index zset, KEYS[6] dead raw hash
-- ARGV[1] consumer id, ARGV[2] result key prefix, then per message 10 values:
--   op (done|retry|dead), raw, task id ('' if none), status, payload
--   (return JSON | next message | dead entry JSON), error field, error JSON,
--   retry delay, result ttl, dead-letter id
-- A message no longer in my inflight (recovered by others) is left alone.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local settled = 0
for i = 3, #ARGV, 10 do
  local op, raw, id, status, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local err_field, err_json, delay, ttl, dead_id = ARGV[i + 5], ARGV[i + 6], tonumber(ARGV[i + 7]), tonumber(ARGV[i + 8]), ARGV[i + 9]
  if redis.call('LREM', KEYS[1], 1, raw) == 1 then
    settled = settled + 1
    redis.call('HDEL', KEYS[3], raw)
    if op == 'retry' then
      redis.call('ZADD', KEYS[2], now + delay, payload)
    elseif op == 'dead' then
      redis.call('HSET', KEYS[4], dead_id, payload)
      redis.call('HSET', KEYS[6], dead_id, raw)
      redis.call('ZADD', KEYS[5], now, dead_id)
    end
    if id ~= '' then
      local rk = ARGV[2] .. id
      redis.call('HSETNX', rk, 'msg', raw)
      redis.call('HSET', rk, 'status', status)
      redis.call('HDEL', rk, 'worker')
      if op ~= 'dead' then
        local w = redis.call('HGET', rk, 'worker_ids')
        redis.call('HSET', rk, 'worker_ids', w and (w .. ',' .. ARGV[1]) or ARGV[1])
      end
      if op == 'retry' then
        redis.call('HSET', rk, 'msg', payload)
      else
        redis.call('HSET', rk, 'finished_at', now)
        if op == 'done' and payload ~= '' then redis.call('HSET', rk, 'return', payload) end
      end
      if err_field ~= '' then redis.call('HSET', rk, err_field, err_json) end
      redis.call('EXPIRE', rk, math.ceil(ttl + delay))
    end
  end
end
return settled
