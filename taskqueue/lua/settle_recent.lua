-- settle, section 3d: the recorded tasks are no longer READY. Those of a call
-- that is not PLAIN are also the queue's most recent others (the last 200: a
-- retry, a failure, a dead letter); a plain success is listed by the finished
-- index alone (settle_index.lua), where the dashboard reads the newest
-- (store/tasklist.py, recent_results): a list of every settled id cost each
-- task as much as its index entry.
if #recent > 0 then
  redis.call('HDEL', ready, unpack(recent))
  if not PLAIN then
    redis.call('LPUSH', recent_ids, unpack(recent))
    redis.call('LTRIM', recent_ids, 0, 199)
  end
end
