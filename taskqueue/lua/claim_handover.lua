-- claim, section 5: what my in-flight list already holds. Sets claimed.
-- After a lost reply (ARGV[8]) or a rollback, everything in it goes back to
-- the head of the queue, in order, but for one copy of the moved message.
if ARGV[8] == '1' or rolled_back then
  local mine = redis.call('LRANGE', inflight, 0, -1)
  redis.call('DEL', inflight)
  local kept = false
  for i = #mine, 1, -1 do
    if has_moved and mine[i] == moved and not kept then kept = true
    elseif mine[i] ~= wake then redis.call('LPUSH', pending, mine[i]) end
  end
  if kept then redis.call('RPUSH', inflight, moved) end
end

-- The moved message is the batch's first, adopted in place; a wake token is
-- dropped; one no longer in my in-flight list was handed back meanwhile (a
-- reset, a recovery): not mine to run.
local claimed = {}
if has_moved and moved == wake then
  redis.call('LREM', inflight, 1, wake)
elseif has_moved and not redis.call('LPOS', inflight, moved) then
  has_moved = false
elseif has_moved then
  local own = adopt(moved)
  if own ~= moved then
    redis.call('LREM', inflight, -1, moved)
    redis.call('RPUSH', inflight, own)
  end
  claimed[1] = own
end
