-- Hold presence entries of users in a room until a deadline; report who arrived.
--
-- KEYS[1]  the room's entries: sorted set of "<user id>|<instance>", scored by deadline (unix ms)
-- KEYS[2]  the room's present users: hash of user id -> user JSON
-- KEYS[3]  the room's entry counts: hash of user id -> number of entries
-- ARGV[1]  the room's pub/sub channel
-- ARGV[2]  the command that publishes on it: PUBLISH, or SPUBLISH on a cluster (the channel
--          shares the keys' hash tag, so it is in this script's slot)
-- ARGV[3]  the deadline (unix ms)
-- ARGV[4]  this instance
-- ARGV[5]  milliseconds the keys live from now (past the deadline: idle rooms' presence goes)
-- ARGV[6], ARGV[7], ...  user id, user JSON, for each user held
--
-- A user arrives with their first entry in the room (several tabs or instances count once).
-- Arrivals are published as `presence {"arrived":[...],"departed":[]}` on the room's channel,
-- inside the script, so every instance hears each arrival once and in order with the rest.
local arrived = {}
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call("ZADD", KEYS[1], ARGV[3], id .. "|" .. ARGV[4]) == 1 then
    if redis.call("HINCRBY", KEYS[3], id, 1) == 1 then
      redis.call("HSET", KEYS[2], id, ARGV[i + 1])
      arrived[#arrived + 1] = ARGV[i + 1]
    end
  end
end
for k = 1, 3 do
  redis.call("PEXPIRE", KEYS[k], ARGV[5])
end
if #arrived > 0 then
  redis.call(ARGV[2], ARGV[1], 'presence {"arrived":[' .. table.concat(arrived, ",") .. '],"departed":[]}')
end
return arrived
