-- tasklist_read: one queue's slice of the task list's index (taskqueue/store/tasklist.py).
-- KEYS[1] finished minutes zset, KEYS[2] finished bucket key prefix (settle_index.lua)
-- ARGV[1] 'desc' (newest first) or 'asc', ARGV[2] the start minute or '' (the edge),
-- ARGV[3] the start index in that minute's bucket (exclusive), ARGV[4] how many
-- entries at most, ARGV[5] the result key prefix, ARGV[6] since, ARGV[7] until (unix
-- seconds, '' when none); KEYS[3] the results index (results_lookup.lua).
-- Returns minute, index, id for each entry, in page order. It reads at most ARGV[4]
-- buckets (each non-empty one gives at least one entry), an LLEN and an LRANGE each; in
-- the bucket of a time bound's minute, a binary search on its records' finish times (a
-- bucket is in finish order) finds where the bound cuts it: about 2 log2(its size) reads.
local minutes, prefix, results = KEYS[1], KEYS[2], ARGV[5]
local desc, start, at = ARGV[1] == 'desc', ARGV[2], tonumber(ARGV[3])
local count, since, untl = tonumber(ARGV[4]), tonumber(ARGV[6]), tonumber(ARGV[7])
local low = since and math.floor(since / 60) or '-inf'
local high = untl and math.floor(untl / 60) or '+inf'
-- A task's finished_at, else its span's end ("<consumer> <start> <finish>": worker:1, or
-- the second line of its packed record, settle_plain.lua).
local function finish_of(id)
  local at, span = unpack(redis.call('HMGET', results .. id, 'finished_at', 'worker:1'))
  span = span or (not at and string.match(plain_record(KEYS[3], id) or '', '^[^\n]*\n([^\n]*)'))
  return tonumber(at) or (span and tonumber(string.match(span, ' ([^ ]+)$')))
end
-- The first index of the bucket whose task finished at or after t (#bucket if none).
local function first_from(key, size, t)
  local lo, hi = 0, size
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local f = finish_of(redis.call('LINDEX', key, mid))
    if f and f >= t then hi = mid else lo = mid + 1 end
  end
  return lo
end
local found = desc
  and redis.call('ZREVRANGEBYSCORE', minutes, start ~= '' and start or high, low, 'LIMIT', 0, count)
  or redis.call('ZRANGEBYSCORE', minutes, start ~= '' and start or low, high, 'LIMIT', 0, count)
local out = {}
for _, m in ipairs(found) do
  local want = count - #out / 3
  if want <= 0 then break end
  local key, minute = prefix .. m, tonumber(m)
  local size = redis.call('LLEN', key)
  local first, last = 0, size - 1 -- what the time range leaves of the bucket
  if since and minute == low then first = first_from(key, size, since) end
  if untl and minute == high then last = first_from(key, size, untl + 1e-6) - 1 end
  local lo, hi
  if desc then
    hi = math.min(last, m == start and at - 1 or last)
    lo = math.max(first, hi - want + 1)
  else
    lo = math.max(first, m == start and at + 1 or first)
    hi = math.min(last, lo + want - 1)
  end
  local ids = hi >= lo and redis.call('LRANGE', key, lo, hi) or {}
  local from, to, step = 1, #ids, 1
  if desc then from, to, step = #ids, 1, -1 end
  for j = from, to, step do
    out[#out + 1], out[#out + 2], out[#out + 3] = m, lo + j - 1, ids[j]
  end
end
return out
