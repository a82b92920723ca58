-- settle, section 2: the arguments of each message, laid out in one place.
-- After the call's own four (consumer id, result key prefix, result ttl, the
-- stride), each message has SETTLE_FIELDS values, one per field of
-- taskqueue.store.settlement.Settlement, in the order they are declared there
-- (Settlement.argv() writes them). The offset of each field is its name:
--   OP done|retry|dead; RAW the message as claimed; TASK_ID ('' if none);
--   STATUS; PAYLOAD the return JSON | the next message | the dead entry JSON;
--   ERROR_FIELD ('' if none) and ERROR_JSON; DELAY retry seconds; DEAD_ID hex;
--   ATTEMPT digits; REDELIVERED '1' or '0'; STARTED and FINISHED unix seconds
--   when the task really ran ('0' if it never did: then the claim time and
--   this script's time stand); MSG the envelope to record when it is not RAW
--   (a wrapped legacy message), '' when it is; WORKFLOW the workflow id of a
--   step ('' for a task in none: settle_workflow.lua); UNIQUE and SLOT
--   (settle_limits.lua). Those last three are sent only when some message of
--   the call needs them (WIDE); otherwise the stride is 14 and they read ''.
-- A call of plain successes only (PLAIN: first attempts that ran and returned,
-- not redelivered: Settlement.plain) sends three: RAW, TASK_ID and RECORD (the
-- record's worker:1 value and return JSON, on two lines, as settle_plain.lua
-- stores them), and MSG fourth when a message of the call has one; the other
-- offsets are nil then.
local SETTLE_FIELDS, SETTLE_FIRST = tonumber(ARGV[4]), 5
local WIDE, PLAIN = SETTLE_FIELDS == 17, SETTLE_FIELDS == 3 or SETTLE_FIELDS == 4
local OP, RAW, TASK_ID, STATUS, PAYLOAD, ERROR_FIELD, ERROR_JSON = 0, 1, 2, 3, 4, 5, 6
local DELAY, DEAD_ID, ATTEMPT, REDELIVERED, STARTED, FINISHED, MSG = 7, 8, 9, 10, 11, 12, 13
local WORKFLOW, UNIQUE, SLOT = 14, 15, 16
local RECORD = nil
if PLAIN then
  RAW, TASK_ID, RECORD, MSG = 0, 1, 2, SETTLE_FIELDS == 4 and 3 or nil
  OP, STATUS, PAYLOAD, ERROR_FIELD, ERROR_JSON, DELAY, DEAD_ID, ATTEMPT, REDELIVERED =
    nil, nil, nil, nil, nil, nil, nil, nil, nil
  STARTED, FINISHED = nil, nil
end

-- n messages, each well formed, or an error reply before anything is written.
if not (WIDE or PLAIN or SETTLE_FIELDS == 14) then return redis.error_reply('ERR settle: bad stride') end
local n = (#ARGV - SETTLE_FIRST + 1) / SETTLE_FIELDS
if n == 0 then return 0 end
if n ~= math.floor(n) or not ttl then return redis.error_reply('ERR settle: bad argument count') end
-- Table lookups for the closed sets, a pattern only where a value is not the
-- common one: the check runs for every message, so it is kept cheap.
local OPS = {done = true, retry = true, dead = true}
local FLAGS = {['0'] = true, ['1'] = true}
local STATUSES = {SUCCESSFUL = true, FAILED = true, READY = true, RUNNING = true, [''] = true}
for i = SETTLE_FIRST, PLAIN and 0 or #ARGV, SETTLE_FIELDS do
  local delay, attempt, dead_id = tonumber(ARGV[i + DELAY]), ARGV[i + ATTEMPT], ARGV[i + DEAD_ID]
  if not (OPS[ARGV[i + OP]] and delay and delay == delay and delay ~= math.huge and delay ~= -math.huge
    and STATUSES[ARGV[i + STATUS]] and FLAGS[ARGV[i + REDELIVERED]]
    and (attempt == '1' or string.find(attempt, '^%d+$'))
    and (dead_id == '' or string.find(dead_id, '^%x+$')))
  then
    return redis.error_reply('ERR settle: bad arguments for message ' .. ((i - SETTLE_FIRST) / SETTLE_FIELDS + 1))
  end
end
