-- claim, section 2: adoption of the original system's messages (docs/protocol.md).
-- adopt(m): a message not in our envelope form that starts with '{' comes back
-- wrapped with a task id of its own (ARGV[11] and a counter); any other
-- message, or one over the size limit (ARGV[12]), as it is.
local seed, max_bytes, wrapped = ARGV[11], tonumber(ARGV[12]), 0
local function adopt(m)
  if string.sub(m, 1, #ENVELOPE_OPEN) == ENVELOPE_OPEN or #m > max_bytes or not string.find(m, '^%s*{') then
    return m
  end
  wrapped = wrapped + 1
  local own = ENVELOPE_OPEN .. seed .. string.format('%04x', wrapped) .. '","p":0,"legacy":' ..
    cjson.encode(m) .. ',"enqueued_at":' .. string.format('%.6f', now) .. '}'
  -- Recovered before it was wrapped (a BLMOVE into a consumer that died): the
  -- count moves to the wrapper, which the settle clears; else it stays forever.
  local count = redis.call('HGET', redelivered, m)
  if count then
    redis.call('HDEL', redelivered, m)
    redis.call('HSET', redelivered, own, count)
  end
  return own
end
