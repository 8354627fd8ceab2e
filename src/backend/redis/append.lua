-- Store a message in a room's stream and publish it, as one atomic step.
--
-- KEYS[1]  the room's stream
-- KEYS[2]  the key remembering this client_id (ignored when ARGV[5] is "0")
-- ARGV[1]  the room's pub/sub channel
-- ARGV[2]  the message draft, JSON
-- ARGV[3]  approximate stream length to keep (MAXLEN ~)
-- ARGV[4]  seconds to remember the client_id
-- ARGV[5]  "1" when the draft has a client_id, else "0"
-- ARGV[6]  seconds the room's stream lives after its last message (idle rooms are deleted)
-- ARGV[7]  the command that publishes: PUBLISH, or SPUBLISH on a cluster (the room's channel
--          carries the room's hash tag, like both keys, so everything here is in one slot)
--
-- Each entry also records `p`, the id of the entry before it, so a reader resuming after an id
-- can tell whether anything between was trimmed away (see RedisBroker::replay).
--
-- Returns { id, duplicate } where duplicate is 1 when client_id had been stored before (then
-- nothing is written or published and id is the earlier message's id).
-- Because Redis runs a script without interleaving other commands, the publish order of a
-- room equals the order of its stream.
if ARGV[5] == "1" then
  local earlier = redis.call("GET", KEYS[2])
  if earlier then
    return { earlier, 1 }
  end
end
local previous = redis.call("XREVRANGE", KEYS[1], "+", "-", "COUNT", 1)[1]
local id
if previous then
  id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[3], "*", "m", ARGV[2], "p", previous[1])
else
  id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[3], "*", "m", ARGV[2])
end
redis.call("EXPIRE", KEYS[1], ARGV[6])
if ARGV[5] == "1" then
  redis.call("SET", KEYS[2], id, "EX", ARGV[4])
end
redis.call(ARGV[7], ARGV[1], id .. " " .. ARGV[2])
return { id, 0 }
