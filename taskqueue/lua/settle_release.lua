-- settle, section 3: release the messages.
-- Usually the batch is the head of my in-flight list, in order: then one
-- LTRIM releases it all. Otherwise (a legacy message was adopted, a message
-- was recovered by others) settle_plain.lua and settle_record.lua remove each
-- one by value, if still there; a message no longer there is not recorded.
local head = redis.call('LRANGE', inflight, 0, n - 1)
local in_order = #head == n
for j = 1, n do
  if not in_order then break end
  in_order = head[j] == ARGV[SETTLE_FIRST + (j - 1) * SETTLE_FIELDS + RAW]
end
if in_order then redis.call('LTRIM', inflight, n, -1) end
-- What the record sections collect: recent (the tasks recorded; settle_recent.lua),
-- flows (settle_workflow.lua), indexed (the finished ones; settle_index.lua).
local settled, recent, flows, indexed = 0, {}, {}, {}
