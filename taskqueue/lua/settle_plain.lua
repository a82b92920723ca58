-- settle, section 3b: a PLAIN call (settle_args.lua), nearly every call: first
-- attempts that ran and returned, not redelivered. Each record is one field of
-- this span's results bucket (results_lookup.lua), all written by one HSET, the
-- bucket's expiry set once per call: no key, no expiry, no hash of its own per
-- task. Its start and finish are its span's (worker:1), not fields of their own
-- (results.py; tasklist_read.lua). The bucket lives until the last record it can
-- hold is ttl old (settle_index.lua unlinks it then; its expiry, a little later,
-- is for a queue nobody settles on any more).
if PLAIN then
  local packed, bucket = {}, results .. ':' .. results_member
  local function flush() -- HSET in parts: unpack takes at most 8000 values
    redis.call('HSET', bucket, unpack(packed))
    packed = {}
  end
  for i = SETTLE_FIRST, #ARGV, SETTLE_FIELDS do
    local raw, task_id = ARGV[i + RAW], ARGV[i + TASK_ID]
    if in_order or redis.call('LREM', inflight, 1, raw) == 1 then
      settled = settled + 1
      if task_id ~= '' then
        local msg = MSG and ARGV[i + MSG] or ''
        packed[#packed + 1] = task_id
        packed[#packed + 1] = minute_s .. '\n' .. ARGV[i + RECORD] .. '\n' .. (msg ~= '' and msg or raw)
        recent[#recent + 1] = task_id
        if #packed == 2000 then flush() end
      end
    end
  end
  indexed = recent -- every id recorded here finished: the same list (settle_index.lua)
  if #recent > 0 then -- the ids recorded here
    if #packed > 0 then flush() end
    redis.call('ZADD', results, results_start, results_member)
    redis.call('EXPIREAT', bucket, results_start + span + math.ceil(ttl) + 120)
  end
end
