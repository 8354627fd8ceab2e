-- Store a message in a room's stream and publish it, as one atomic step; for the record of a
-- change to an earlier message (an edit, a deletion, a reaction), also check that the change
-- may be made and keep what it leaves of that message.
--
-- KEYS[1]  the room's stream
-- KEYS[2]  the key remembering this client_id (ignored when ARGV[5] is "0")
-- KEYS[3]  the room's amendments: a hash of message id -> what its records left of it, as JSON
--          {"deleted":true} or {"text":…,"edited":"<id of the latest edit>","reactions":
--          [{"emoji":…,"users":[user…]}…]}, read with the entries (read.lua)
-- KEYS[4]  the room's deleted ids as earlier versions kept them (a set; read, never written)
-- ARGV[1]  the room's pub/sub channel
-- ARGV[2]  the message draft, JSON
-- ARGV[3]  approximate stream length to keep (MAXLEN ~)
-- ARGV[4]  seconds to remember the client_id
-- ARGV[5]  "1" when the draft has a client_id, else "0"
-- ARGV[6]  seconds the room's stream lives after its last message (idle rooms are deleted)
-- ARGV[7]  the command that publishes: PUBLISH, or SPUBLISH on a cluster (the room's channel
--          carries the room's hash tag, like the keys, so everything here is in one slot)
-- ARGV[8]  the id of the message the draft is a record about, or "" (an ordinary message)
-- ARGV[9]  the user id that message must be by (its author editing or taking it back), or ""
--          (a moderator's deletion, anyone's reaction)
-- ARGV[10] most different reactions a message may have
--
-- Each entry also records `p`, the id of the entry before it, so a reader resuming after an id
-- can tell whether anything between was trimmed away (see RedisBroker::replay).
--
-- Returns { id, status }: status 0 when stored; 1 when client_id had been stored before (then
-- nothing is written or published and id is the earlier message's id); for a record, 2 when its
-- target is not a text or action of the room that is still there, 3 when the change is made
-- already (deleted, the same text, the reaction already on or off), 4 when the target is not by
-- ARGV[9], 5 when a new reaction would be one too many (these store nothing; id is "").
-- Because Redis runs a script without interleaving other commands, the publish order of a
-- room equals the order of its stream.
if ARGV[5] == "1" then
  local earlier = redis.call("GET", KEYS[2])
  if earlier then
    return { earlier, 1 }
  end
end

-- What the record changes, if the draft is one: the target's amendments as they will be.
local amended
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
  local stored = redis.call("HGET", KEYS[3], ARGV[8])
  amended = stored and cjson.decode(stored) or {}
  if redis.call("SISMEMBER", KEYS[4], ARGV[8]) == 1 then
    amended = { deleted = true }
  end
  local record = cjson.decode(ARGV[2])
  if amended.deleted then
    return { "", record.kind == "deleted" and 3 or 2 }
  end
  if record.kind == "deleted" then
    amended = { deleted = true }
  elseif record.kind == "edited" then
    if (amended.text or said.text) == record.text then
      return { "", 3 }
    end
    amended.text = record.text
    amended.edited = true -- the record's id, once it has one
  elseif record.kind == "reacted" then
    local change, me = record.reaction, record.user
    local reactions = amended.reactions or {}
    local at
    for i, reaction in ipairs(reactions) do
      if reaction.emoji == change.emoji then
        at = i
      end
    end
    if change.on then
      if not at then
        if #reactions >= tonumber(ARGV[10]) then
          return { "", 5 }
        end
        table.insert(reactions, { emoji = change.emoji, users = { me } })
      else
        for _, user in ipairs(reactions[at].users) do
          if user.id == me.id then
            return { "", 3 }
          end
        end
        table.insert(reactions[at].users, me)
      end
    else
      if not at then
        return { "", 3 }
      end
      local kept = {}
      for _, user in ipairs(reactions[at].users) do
        if user.id ~= me.id then
          table.insert(kept, user)
        end
      end
      if #kept == #reactions[at].users then
        return { "", 3 }
      end
      if #kept == 0 then
        table.remove(reactions, at)
      else
        reactions[at].users = kept
      end
    end
    -- An empty table would be written as {}: a message without reactions has none.
    amended.reactions = #reactions > 0 and reactions or nil
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
if amended then
  if amended.edited then
    amended.edited = id
  end
  if next(amended) == nil then
    redis.call("HDEL", KEYS[3], ARGV[8])
  else
    redis.call("HSET", KEYS[3], ARGV[8], cjson.encode(amended))
  end
end
redis.call("EXPIRE", KEYS[3], ARGV[6])
if ARGV[5] == "1" then
  redis.call("SET", KEYS[2], id, "EX", ARGV[4])
end
redis.call(ARGV[7], ARGV[1], id .. " " .. ARGV[2])
return { id, 0 }
