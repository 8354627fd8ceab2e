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
--          carries the room's hash tag, like the keys, so everything here is in one slot)
-- KEYS[3]  the set of the room's deleted message ids
-- ARGV[8]  the id of the message this draft deletes, or "" (an ordinary message)
-- ARGV[9]  for a deletion, the user id its target must be by (its author taking it back), or ""
--          (a moderator's: anyone's)
--
-- Each entry also records `p`, the id of the entry before it, so a reader resuming after an id
-- can tell whether anything between was trimmed away (see RedisBroker::replay).
--
-- A deletion first checks that its target is a text or an action in the stream and adds it to
-- the set of deleted ids (readers blank what the set names); the deletion itself is then stored
-- and published like any message, so a resume after an earlier id replays it. The set lives as
-- long as the stream: every append renews both.
--
-- Returns { id, status }: status 0 when stored; 1 when client_id had been stored before (then
-- nothing is written or published and id is the earlier message's id); for a deletion, 2 when
-- the target is not a text or action of the room, 3 when it was deleted already and 4 when it is
-- not by ARGV[9] (these store nothing, and id is "").
-- Because Redis runs a script without interleaving other commands, the publish order of a
-- room equals the order of its stream.
if ARGV[5] == "1" then
  local earlier = redis.call("GET", KEYS[2])
  if earlier then
    return { earlier, 1 }
  end
end
if ARGV[8] ~= "" then
  local target = redis.call("XRANGE", KEYS[1], ARGV[8], ARGV[8])[1]
  if not target then
    return { "", 2 }
  end
  -- The entry's fields are { "m", draft, "p", previous }.
  local said = cjson.decode(target[2][2])
  if said.kind ~= "text" and said.kind ~= "me" then
    return { "", 2 }
  end
  if ARGV[9] ~= "" and said.user.id ~= ARGV[9] then
    return { "", 4 }
  end
  if redis.call("SADD", KEYS[3], ARGV[8]) == 0 then
    return { "", 3 }
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
redis.call("EXPIRE", KEYS[3], ARGV[6])
if ARGV[5] == "1" then
  redis.call("SET", KEYS[2], id, "EX", ARGV[4])
end
redis.call(ARGV[7], ARGV[1], id .. " " .. ARGV[2])
return { id, 0 }
