-- gate, section 2: the concurrency cap (KEYS[4] slots, KEYS[5] waiting).
-- Only a cap that looks full is swept: a slot's lease ends a worker timeout
-- after its consumer's last heartbeat; a cap still full defers the message
-- to the earliest end (or a settle's release). A slot of mine is free: a
-- consumer runs one task at a time, so it is a finished one's, still unsettled.
if cap > 0 and redis.call('HEXISTS', slots, id) == 0 and redis.call('HLEN', slots) >= cap then
  local held, live, ends = redis.call('HGETALL', slots), 0, now + timeout
  for j = 1, #held, 2 do
    local beat = tonumber(redis.call('ZSCORE', consumers, held[j + 1]) or '0')
    if beat < now - timeout or held[j + 1] == me then
      redis.call('HDEL', slots, held[j])
    else
      live = live + 1
      ends = math.min(ends, beat + timeout + 0.01)
    end
  end
  if live >= cap then
    redis.call('ZADD', waiting, now, raw)
    return defer(ends, 'CONCURRENCY')
  end
end
