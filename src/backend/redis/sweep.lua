-- Remove a room's presence entries that ended; report who departed.
--
-- KEYS as in hold.lua.
-- ARGV[1]  the room's pub/sub channel
-- ARGV[2]  the command that publishes on it (PUBLISH, or SPUBLISH on a cluster)
-- ARGV[3]  now (unix ms): entries with an earlier deadline are removed
-- ARGV[4]  most entries removed in one call
--
-- A user departs with their last entry. Departures are published like arrivals, as
-- `presence {"arrived":[],"departed":[...]}`. Returns { user JSON, deadline, ... }.
local ended = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[3], "WITHSCORES", "LIMIT", 0, ARGV[4])
local departed = {}
local report = {}
for i = 1, #ended, 2 do
  local member = ended[i]
  redis.call("ZREM", KEYS[1], member)
  local id = string.match(member, "^([^|]+)|")
  if id and redis.call("HINCRBY", KEYS[3], id, -1) <= 0 then
    redis.call("HDEL", KEYS[3], id)
    local user = redis.call("HGET", KEYS[2], id)
    redis.call("HDEL", KEYS[2], id)
    if user then
      departed[#departed + 1] = user
      report[#report + 1] = user
      report[#report + 1] = ended[i + 1]
    end
  end
end
if #departed > 0 then
  redis.call(ARGV[2], ARGV[1], 'presence {"arrived":[],"departed":[' .. table.concat(departed, ",") .. ']}')
end
return report
