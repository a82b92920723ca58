-- record: tasks' stored states, wherever they live (taskqueue/store/records.py).
-- KEYS[1] the ready hash, KEYS[2] the results index (results_lookup.lua)
-- ARGV[1] the result key prefix, ARGV[2] how many field names follow (0: every
-- field of the record), then those names, then the task ids.
-- Returns, per id, three values: the record's fields as name, value pairs (only
-- those present), its READY entry or false, its packed plain record or false.
-- A final record or a READY entry ends a task's search: a task is recorded in
-- one place, and one still READY is not settled.
local ready, index, prefix = KEYS[1], KEYS[2], ARGV[1]
local wanted = tonumber(ARGV[2])
local names = {unpack(ARGV, 3, 2 + wanted)}
local out = {}
for i = 3 + wanted, #ARGV do
  local id, fields = ARGV[i], nil
  if wanted == 0 then
    fields = redis.call('HGETALL', prefix .. id)
  else
    fields = {}
    local values = redis.call('HMGET', prefix .. id, unpack(names))
    for j = 1, wanted do
      if values[j] then fields[#fields + 1] = names[j]; fields[#fields + 1] = values[j] end
    end
  end
  local final = false
  for j = 1, #fields, 2 do
    if fields[j] == 'status' then final = fields[j + 1] == 'SUCCESSFUL' or fields[j + 1] == 'FAILED' end
  end
  local entry = not final and redis.call('HGET', ready, id)
  out[#out + 1] = fields
  out[#out + 1] = entry or false
  out[#out + 1] = not (final or entry) and plain_record(index, id) or false
end
return out
