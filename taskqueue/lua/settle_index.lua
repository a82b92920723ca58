-- settle, section 3b: the task list's finished index (taskqueue/store/tasklist.py).
-- settle_record.lua collected the ids of the tasks this call finished (not the
-- retries) and wrote each record's 'bucket' field (the finish minute). One
-- RPUSH appends them to this minute's bucket list; only a new bucket (RPUSH
-- returned the batch size) costs more: its expiry, its minute in the minutes
-- zset and a trim of the minutes whose buckets expired. Bucket minute m
-- expires ttl + 60 s after it began, after every record it lists.
if #indexed > 0 then
  local bucket = finished_prefix .. minute
  if redis.call('RPUSH', bucket, unpack(indexed)) == #indexed then
    redis.call('EXPIRE', bucket, math.ceil(ttl) + 60)
    redis.call('ZADD', finished_minutes, minute, minute)
    redis.call('ZREMRANGEBYSCORE', finished_minutes, '-inf', '(' .. (minute - math.ceil(ttl / 60) - 1))
    -- Once a minute too: unlink the results buckets (settle_plain.lua) whose last
    -- record is ttl old, before their own expiry frees them on the main thread.
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', results, '-inf', now - ttl)) do
      local start, width = string.match(member, '^(%d+):(%d+)$')
      if not start or start + width + ttl <= now then
        redis.call('UNLINK', results .. ':' .. member)
        redis.call('ZREM', results, member)
      end
    end
  end
end
