-- workflow: store a workflow and release its first steps, in one step
-- (taskqueue/store/workflows.py; the settle releases the rest:
-- settle_workflow.lua).
-- KEYS[1] the queue's list, KEYS[2] its ready hash, KEYS[3] the workflow hash
-- ARGV[1] ttl, ARGV[2] r, ARGV[3] m, then r pairs (task id, message): every
-- step's READY entry, of which the first m are pushed to the list now; then
-- field/value pairs of the workflow hash (steps, messages, errors to record).
local ttl, r, m = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local first = 4 + 2 * (r or 0)
if not (ttl and r and m and m <= r and first <= #ARGV + 1 and (#ARGV - first) % 2 == 1) then
  return redis.error_reply('ERR workflow: bad arguments')
end
for j = first, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1]) end
redis.call('EXPIRE', KEYS[3], ttl)
for j = 0, r - 1 do
  local id, msg = ARGV[4 + 2 * j], ARGV[5 + 2 * j]
  redis.call('HSET', KEYS[2], id, msg)
  if j < m then redis.call('RPUSH', KEYS[1], msg) end
end
return m
