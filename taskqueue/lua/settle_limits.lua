-- settle, section 2c: what a limited task held is let go (taskqueue/taskoptions.py).
-- UNIQUE is its unique key ({Q}:unique:<digest>), SLOT its concurrency slots
-- hash ({Q}:slots:<task>); '' for a task without them. A call with no such
-- task is not WIDE and skips this section. Only a message still in my in-flight list lets go (one
-- recovered by others is theirs now). The key goes for any outcome but a
-- retry, and only while it still names this task; a freed slot sends the
-- first message waiting for it (deferred by gate.lua) to the head of the queue.
for i = SETTLE_FIRST, WIDE and #ARGV or 0, SETTLE_FIELDS do
  local unique, slot = ARGV[i + UNIQUE], ARGV[i + SLOT]
  if (unique ~= '' or slot ~= '') and redis.call('LPOS', inflight, ARGV[i + RAW]) then
    local id = ARGV[i + TASK_ID]
    if unique ~= '' and ARGV[i + OP] ~= 'retry' and redis.call('GET', unique) == id then
      redis.call('DEL', unique)
    end
    if slot ~= '' and redis.call('HDEL', slot, id) == 1 then
      for _, next_raw in ipairs(redis.call('ZRANGE', slot .. ':waiting', 0, 9)) do
        redis.call('ZREM', slot .. ':waiting', next_raw)
        if redis.call('ZREM', scheduled, next_raw) == 1 then
          redis.call('LPUSH', pending, next_raw)
          break
        end
      end
    end
  end
end
