-- prelude: the server clock, in front of every script (taskqueue/store/scripts.py
-- puts it there). Scripts that read messages also get envelope.lua.
local clock = nil
-- The server's time in unix seconds: asked once per script, and only if needed
-- (TIME is the one clock all hosts share).
local function server_now()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) + tonumber(t[2]) / 1e6
  end
  return clock
end
