-- dead: requeue or delete dead letters by id.
-- KEYS[1] pending list, KEYS[2] dead hash, KEYS[3] dead index, KEYS[4] dead raw hash,
-- KEYS[5] redelivered hash
-- ARGV[1] 'requeue' or 'delete', ARGV[2..] dead-letter ids
local done = 0
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[4], ARGV[i])
  if raw then
    if ARGV[1] == 'requeue' then
      redis.call('HDEL', KEYS[5], raw)
      redis.call('RPUSH', KEYS[1], raw)
    end
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[4], ARGV[i])
    redis.call('ZREM', KEYS[3], ARGV[i])
    done = done + 1
  end
end
return done
