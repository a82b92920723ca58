-- settle, section 2b: a settled task is no longer a cancel in flight.
-- cancels (KEYS[12]), the queue's cancel hash. Only read when it exists (something was
-- cancelled while claimed); a message no longer in my in-flight list is not
-- mine to settle, so its cancel stays for the worker that now holds it.
if redis.call('EXISTS', cancels) == 1 then
  for i = SETTLE_FIRST, #ARGV, SETTLE_FIELDS do
    local task_id = ARGV[i + TASK_ID]
    if task_id ~= '' and redis.call('HEXISTS', cancels, task_id) == 1
      and redis.call('LPOS', inflight, ARGV[i + RAW]) then
      redis.call('HDEL', cancels, task_id)
    end
  end
end
