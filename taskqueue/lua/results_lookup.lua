-- results_lookup: the record of a plain success (settle_plain.lua) is one field
-- of a shared bucket hash, {Q}:results:<start>:<span>, not a key of its own:
-- its value is "<minute>\n<worker:1>\n<return>\n<message>" (store/records.py unpacks it).
-- The live buckets are the members of the index zset {Q}:results ("<start>:<span>",
-- score start); a lookup asks each, newest first (at most about 17: a bucket
-- spans a sixteenth of the result ttl). A task still in the ready hash is not
-- settled, so it is never looked for there.
-- finished_status(record key, ready hash, results index, id): the status a
-- reader sees, 'SUCCESSFUL' for a plain success whose key (if any) holds only
-- the claim's RUNNING mark or a running task's metadata.
local function plain_record(index, id)
  for _, member in ipairs(redis.call('ZREVRANGE', index, 0, -1)) do
    local packed = redis.pcall('HGET', index .. ':' .. member, id) -- a foreign key: skipped
    if type(packed) == 'string' then return packed end
  end
  return nil
end

local function finished_status(key, ready, index, id)
  local status = redis.call('HGET', key, 'status')
  if status == 'SUCCESSFUL' or status == 'FAILED' or redis.call('HEXISTS', ready, id) == 1 then
    return status
  end
  return plain_record(index, id) and 'SUCCESSFUL' or status
end
