-- settle, section 3b: a PLAIN call (settle_args.lua), nearly every call: first
-- attempts that ran and returned, not redelivered. Each gets the record
-- settle_record.lua writes for such an outcome, in one HSET of fixed arity,
-- and the result ttl. Its start and finish are its span's (worker:1), not
-- fields of their own (results.py; tasklist_read.lua).
if PLAIN then
  for i = SETTLE_FIRST, #ARGV, SETTLE_FIELDS do
    local raw, task_id = ARGV[i + RAW], ARGV[i + TASK_ID]
    if in_order or redis.call('LREM', inflight, 1, raw) == 1 then
      settled = settled + 1
      if task_id ~= '' then
        local msg, rk = MSG and ARGV[i + MSG] or '', prefix .. task_id
        redis.call('HSET', rk, 'status', 'SUCCESSFUL', 'msg', msg ~= '' and msg or raw,
          'bucket', minute_s, 'worker:1', ARGV[i + WORKER1], 'return', ARGV[i + PAYLOAD])
        redis.call('EXPIRE', rk, expiry_s)
        recent[#recent + 1] = task_id
        indexed[#indexed + 1] = task_id
      end
    end
  end
end
