-- gate, section 2: the concurrency cap (KEYS[4] slots, KEYS[5] waiting).
if cap > 0 and redis.call('HEXISTS', slots, id) == 0 then
  local held, live = redis.call('HGETALL', slots), 0
  for j = 1, #held, 2 do
    if tonumber(redis.call('ZSCORE', consumers, held[j + 1]) or '0') < now - timeout then
      redis.call('HDEL', slots, held[j])
    else
      live = live + 1
    end
  end
  if live >= cap then
    redis.call('ZADD', waiting, now, raw)
    return defer(now + timeout, 'CONCURRENCY')
  end
end
