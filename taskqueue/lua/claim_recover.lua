-- claim, section 3: recovery of consumers that stopped sending heartbeats.
-- Up to 10 consumers silent for longer than the worker timeout (ARGV[4]) lose
-- their in-flight lists to the head of the queue, in order, each message's
-- redelivery count +1; their registration goes too. Sets recovered.
local recovered = 0
local dead = redis.call('ZRANGEBYSCORE', consumers, '-inf', now - tonumber(ARGV[4]), 'LIMIT', '0', '10')
for _, consumer in ipairs(dead) do
  local key = ARGV[5] .. consumer
  local msgs = redis.call('LRANGE', key, 0, -1)
  for i = #msgs, 1, -1 do
    if msgs[i] ~= wake then
      redis.call('HINCRBY', redelivered, msgs[i], 1)
      redis.call('LPUSH', pending, msgs[i])
      recovered = recovered + 1
    end
  end
  redis.call('DEL', key)
  redis.call('ZREM', consumers, consumer)
  redis.call('HDEL', claims, consumer)
end
