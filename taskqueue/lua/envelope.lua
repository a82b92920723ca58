-- envelope: what scripts read from a message, without a JSON parser (after
-- prelude.lua, in front of the scripts that need it: taskqueue/store/scripts.py).
-- Our envelope starts {"v":1,"id":"<id>","p":<priority>, (protocol.py writes
-- it; tests/integration/test_lua_prelude.py checks the two agree).
-- Every envelope opens so (and so does a legacy message the claim wrapped);
-- the claim compares a message's first #ENVELOPE_OPEN bytes to it inline.
local ENVELOPE_OPEN = '{"v":1,"id":"'
-- prio scores below this (priority_score(0, 0)) are positive priorities.
local PRIORITY_ZERO = '1000000000000000'

-- The task id the canonical prefix names, or nil (no prefix: no record).
local function envelope_id(m)
  return string.match(m, '^{"v":1,"id":"([^"]+)"')
end

-- The priority the canonical prefix names; 0 for any other message.
local function envelope_priority(m)
  return tonumber(string.match(m, '^{"v":1,"id":"[^"]*","p":(%-?%d+),') or '0')
end

-- A message's score in the prio set: higher priorities first, then FIFO.
local function priority_score(p, now)
  return (100 - p) * 1e13 + math.floor(now * 1000)
end
