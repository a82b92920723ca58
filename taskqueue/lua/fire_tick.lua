-- fire, the tick: already claimed? early? a gap before it? then fire or skip.
local now = server_now()
if ARGV[1] == 'run' then
  enqueue(ARGV[11], ARGV[12])
  return {'fired', ARGV[11], tostring(now), '', ''}
end
local tick, prev = tonumber(ARGV[2]), tonumber(ARGV[3])
if tick > now + 0.001 then return {'early', '', tostring(now), '', ''} end
local last = tonumber(redis.call('HGET', state, 'last_tick') or '')
if last and last >= tick then return {'done', '', tostring(now), '', ''} end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[7]) then
  return {'done', '', tostring(now), '', ''}
end
redis.call('HSET', state, 'last_tick', ARGV[2])
local late = now - tick > tonumber(ARGV[4])
-- Ticks after the last one fired and before this one went by with no worker;
-- a late tick is one of them. A schedule with no history missed nothing.
local gap = last ~= nil and (late or (prev ~= nil and last < prev))
local paused = redis.call('HGET', state, 'paused') == '1'
local catch_id = ''
if gap and ARGV[5] == '1' and not paused then
  enqueue(ARGV[13], ARGV[14])
  catch_id = ARGV[13]
end
local gap_from = gap and tostring(last) or ''
if late then
  return {'missed', '', tostring(now), gap_from, catch_id}
end
local outcome, id = nil, ''
if paused then
  outcome = skip('paused')
elseif ARGV[6] == '0' and busy() then
  outcome = skip('overlap')
else
  enqueue(ARGV[11], ARGV[12])
  outcome, id = 'fired', ARGV[11]
end
return {outcome, id, tostring(now), gap_from, catch_id}
