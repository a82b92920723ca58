-- settle, section 3b: the task list's finished index (taskqueue/store/tasklist.py).
-- settle_record.lua collected the ids of the tasks this call finished (not the
-- retries). One ZADD for the whole batch, scored by the server clock, the n-th
-- task 1 µs after the one before, so that pages over the index rarely meet
-- equal scores; a task settled again moves, it is never listed twice. Then one
-- trim of the entries older than the result ttl: their records expired.
if #indexed > 0 then
  local scored = {}
  for j, task_id in ipairs(indexed) do
    scored[2 * j - 1], scored[2 * j] = now + (j - 1) * 1e-6, task_id
  end
  redis.call('ZADD', finished_index, unpack(scored))
  redis.call('ZREMRANGEBYSCORE', finished_index, '-inf', '(' .. (now - ttl))
end
