-- claim, section 5b: a paused queue, and cancels in flight (docs/cancel.md).
-- KEYS[8] the queue's paused flag, KEYS[9] its cancel hash. Both are read
-- here, in the claim's own slot, so a worker learns of them without a round
-- trip of its own: control is 'P' when paused, 'C' when some claimed task of
-- the queue is cancelled (the worker then watches the hash), or both.
-- A paused queue gives nothing new; a message BLMOVE moved in goes back.
local paused = redis.call('EXISTS', KEYS[8]) == 1
local control = (paused and 'P' or '') .. (redis.call('EXISTS', KEYS[9]) == 1 and 'C' or '')
if paused and claimed[1] then
  redis.call('LREM', inflight, -1, claimed[1])
  redis.call('LPUSH', pending, claimed[1])
  claimed = {}
end
