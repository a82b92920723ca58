-- settle, section 5: wake whoever waits on a task that just finished.
-- waiting (KEYS[11]), the queue's waiting hash (task id -> number of waiters; see
-- taskqueue/store/waiting.py and wait.lua). It exists only while someone waits,
-- so a settle nobody waits on pays one EXISTS and nothing else. For each task
-- with waiters whose record is now final, one token per waiter is pushed to
-- waiting .. ':' .. id (what the waiters block on), expiring at once if unread.
if waiting and #recent > 0 and redis.call('EXISTS', waiting) == 1 then
  for _, task_id in ipairs(recent) do
    local waiters = tonumber(redis.call('HGET', waiting, task_id) or '0') or 0
    if waiters > 0 then
      -- In a PLAIN call every recorded task is a plain success, with no status field.
      local status = PLAIN and 'SUCCESSFUL' or redis.call('HGET', prefix .. task_id, 'status')
      if status == 'SUCCESSFUL' or status == 'FAILED' then
        local wake = waiting .. ':' .. task_id
        for _ = 1, math.min(waiters, 100) do redis.call('RPUSH', wake, '1') end
        redis.call('EXPIRE', wake, 5)
      end
    end
  end
end
