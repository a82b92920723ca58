-- claim, section 4: promotion of scheduled messages (deferred, retries) that
-- are due: up to 1000 join the queue, in the prio set when their envelope
-- has a priority, else at the tail of the list.
for _, msg in ipairs(redis.call('ZRANGEBYSCORE', scheduled, '-inf', now_s, 'LIMIT', '0', '1000')) do
  redis.call('ZREM', scheduled, msg)
  local p = envelope_priority(msg)
  if p ~= 0 then
    redis.call('ZADD', prio, priority_score(p, now), msg)
  else
    redis.call('RPUSH', pending, msg)
  end
end
