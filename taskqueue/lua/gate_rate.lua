-- gate, section 3: the rate limit (KEYS[6]), then the slot is taken.
if interval > 0 then
  local booked = tonumber(redis.call('HGET', rate, 'B:' .. id) or '')
  if booked and booked > now then return defer(booked, 'RATE_LIMIT') end
  -- A start more than one interval after its booking would crowd the next
  -- one: it books again. So each start is within an interval of its booking,
  -- and no window of the period sees more than N + 1 starts.
  if booked and now - booked <= interval then
    redis.call('HDEL', rate, 'B:' .. id)
  else
    local tat = math.max(tonumber(redis.call('HGET', rate, 'TAT') or '0'), now)
    redis.call('HSET', rate, 'TAT', string.format('%.6f', tat + interval))
    redis.call('PEXPIRE', rate, math.ceil((tat - now + interval + timeout) * 1000))
    if tat > now then
      redis.call('HSET', rate, 'B:' .. id, string.format('%.6f', tat))
      return defer(tat, 'RATE_LIMIT')
    end
  end
end
if cap > 0 then
  redis.call('HSET', slots, id, me)
  redis.call('ZREM', waiting, raw)
end
return {'RUN', string.format('%.6f', now)}
