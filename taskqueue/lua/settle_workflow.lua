-- settle, section 4: the steps of workflows (taskqueue/workflows.py).
-- settle_record.lua listed in flows the messages settled here that name a
-- workflow; a task in none cost one comparison there and nothing here.
-- A step counts once: HSETNX of its task id in {Q}:workflow:<id>:done, so a
-- second settle of it (a redelivery, a duplicate run) changes nothing. Then
-- chain: a success releases the next step (the return value spliced into
-- its arguments when it asked for it); a failure records each later step
-- FAILED, naming the failed one. group: the member that completes the done
-- hash (all n member ids) releases the callback, or records it FAILED when
-- it asked for every member to succeed and one did not.
local function flow_release(wk, k, result)
  local id, msg, cut, pre, sep =
    unpack(redis.call('HMGET', wk, 'id:' .. k, 'msg:' .. k, 'cut:' .. k, 'pre:' .. k, 'sep:' .. k))
  if not id or not msg then return end
  local at = result and tonumber(cut) -- cut bytes, then [pre] result [sep], the rest
  if at then
    if result == '' then result = 'null' end
    msg = string.sub(msg, 1, at) .. (pre or '') .. result .. (sep or '') .. string.sub(msg, at + 1)
  end
  redis.call('HSET', ready, id, msg)
  redis.call('RPUSH', pending, msg)
end

local function flow_fail(wk, done, k, err_field)
  local id, msg, err = unpack(redis.call('HMGET', wk, 'id:' .. k, 'msg:' .. k, err_field))
  if not id or not msg then return end
  redis.call('HSETNX', done, id, 'FAILED')
  redis.call('HDEL', ready, id)
  local rk = prefix .. id
  redis.call('HSET', rk, 'status', 'FAILED', 'msg', msg, 'finished_at', now, 'error:1', err or '')
  redis.call('EXPIRE', rk, ttl)
  recent[#recent + 1] = id -- settle_notify.lua wakes its waiters
end

for _, i in ipairs(flows) do
  local op, task_id, status = ARGV[i + OP], ARGV[i + TASK_ID], ARGV[i + STATUS]
  local wk = flow_prefix .. ARGV[i + WORKFLOW]
  local done = wk .. ':done'
  local k = op ~= 'retry' and task_id ~= '' and redis.call('HGET', wk, 'of:' .. task_id)
  if k and redis.call('HSETNX', done, task_id, status) == 1 then
    local kind, n, only = unpack(redis.call('HMGET', wk, 'kind', 'n', 'only'))
    n = tonumber(n) or 0
    if status ~= 'SUCCESSFUL' then redis.call('HINCRBY', wk, 'failed', 1) end
    if kind == 'chain' then
      local step = tonumber(k) or n
      if status == 'SUCCESSFUL' then
        if step < n then flow_release(wk, step + 1, ARGV[i + PAYLOAD]) end
      else
        for j = step + 1, n do flow_fail(wk, done, j, 'err:' .. step) end
      end
    elseif k ~= 'cb' and redis.call('HLEN', done) == n then
      if only == '1' and tonumber(redis.call('HGET', wk, 'failed') or '0') > 0 then
        flow_fail(wk, done, 'cb', 'err:cb')
      else
        flow_release(wk, 'cb', nil)
      end
    end
    redis.call('EXPIRE', wk, ttl); redis.call('EXPIRE', done, ttl)
  end
end
