-- requeue: put claimed-but-unstarted messages back at the head, in their order.
-- KEYS[1] my inflight, KEYS[2] pending list
-- ARGV[1] result key prefix, ARGV[2..] raw messages in claim order
local moved = 0
for i = #ARGV, 2, -1 do
  local raw = ARGV[i]
  if redis.call('LREM', KEYS[1], 1, raw) == 1 then
    redis.call('LPUSH', KEYS[2], raw)
    moved = moved + 1
    local id = envelope_id(raw)
    if id and redis.call('EXISTS', ARGV[1] .. id) == 1 then
      redis.call('HSET', ARGV[1] .. id, 'status', 'READY')
      redis.call('HDEL', ARGV[1] .. id, 'worker')
    end
  end
end
return moved
