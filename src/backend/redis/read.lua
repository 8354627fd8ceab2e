-- Read a range of a room's stream with what its records left of each message, as one step.
--
-- KEYS[1]  the room's stream
-- KEYS[2]  the room's amendments (see append.lua)
-- KEYS[3]  the room's deleted ids as earlier versions kept them (a set)
-- ARGV[1]  XRANGE or XREVRANGE
-- ARGV[2]  ARGV[3]  the range's ends, in that command's order
-- ARGV[4]  most entries to read
-- ARGV[5]  "1" to return the stream's newest id as well (a resume checks it), else "0"
--
-- Returns { entries, amendments, newest }: the entries as the command gives them; for each, its
-- amendments' JSON or false (none); the newest id, or false.
local entries = redis.call(ARGV[1], KEYS[1], ARGV[2], ARGV[3], "COUNT", ARGV[4])
local amended = {}
if #entries > 0 then
  local ids = {}
  for i, entry in ipairs(entries) do
    ids[i] = entry[1]
  end
  if redis.call("EXISTS", KEYS[2]) == 1 then
    amended = redis.call("HMGET", KEYS[2], unpack(ids))
  else
    for i = 1, #ids do
      amended[i] = false
    end
  end
  if redis.call("EXISTS", KEYS[3]) == 1 then
    for i, id in ipairs(ids) do
      if redis.call("SISMEMBER", KEYS[3], id) == 1 then
        amended[i] = '{"deleted":true}'
      end
    end
  end
end
local newest = false
if ARGV[5] == "1" then
  local last = redis.call("XREVRANGE", KEYS[1], "+", "-", "COUNT", 1)[1]
  newest = last and last[1] or false
end
return { entries, amended, newest }
