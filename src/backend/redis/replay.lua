-- Read a room's messages after an id, and say whether any after it were trimmed away.
--
-- KEYS[1]  the room's stream
-- ARGV[1]  the id to read after (exclusive)
-- ARGV[2]  how many entries at most
--
-- Returns { max_deleted_id, entries }. max_deleted_id is the stream's `max-deleted-entry-id`
-- (Redis 7): the newest id ever trimmed. If it is newer than ARGV[1], the client missed messages
-- that are gone. One script, so both parts describe the same moment.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return { "0-0", {} }
end
local info = redis.call("XINFO", "STREAM", KEYS[1])
local max_deleted = "0-0"
for i = 1, #info, 2 do
  if info[i] == "max-deleted-entry-id" then
    max_deleted = info[i + 1]
  end
end
return { max_deleted, redis.call("XRANGE", KEYS[1], "(" .. ARGV[1], "+", "COUNT", ARGV[2]) }
