-- settle, section 3c: record each outcome and its task's (any call but PLAIN).
if not PLAIN then
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
        local rk = prefix .. task_id
        if op == 'done' and attempt == '1' and started ~= '0' and finished ~= '0' and payload ~= ''
          and ARGV[i + ERROR_FIELD] == '' then
          -- A first attempt that ran and returned: the record settle_plain.lua
          -- writes (its times are its span's), in one call of fixed arity (no table).
          redis.call('HSET', rk, 'status', ARGV[i + STATUS], 'msg', msg ~= '' and msg or raw,
            'bucket', minute_s, 'worker:1', me .. ' ' .. started .. ' ' .. finished, 'return', payload)
        else
          local fields = {'status', ARGV[i + STATUS], 'msg', msg ~= '' and msg or raw}
          if op == 'retry' then
            fields[4] = payload
          else
            fields[5], fields[6] = 'finished_at', finished ~= '0' and finished or now_s
            fields[7], fields[8] = 'bucket', minute_s -- the index bucket that lists it
          end
          if op ~= 'dead' then -- 'worker:<attempt>' = '<me> <start> <finish>' (results.py)
            local span = started ~= '0' and (' ' .. started .. ' ' .. (finished ~= '0' and finished or now_s)) or ''
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
          redis.call('HSET', rk, unpack(fields))
        end
        redis.call('EXPIRE', rk, delay == 0 and expiry_s or math.ceil(ttl + delay))
        recent[#recent + 1] = task_id
        if op ~= 'retry' then indexed[#indexed + 1] = task_id end
      end
    end
  end
end
