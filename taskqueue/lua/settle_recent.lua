-- settle, section 3d: the recorded tasks are no longer READY, and are the
-- queue's most recent (the last 200, for the dashboard).
if #recent > 0 then
  redis.call('HDEL', ready, unpack(recent))
  redis.call('LPUSH', recent_ids, unpack(recent))
  redis.call('LTRIM', recent_ids, 0, 199)
end
