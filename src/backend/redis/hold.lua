-- Hold presence entries of users in a room until a deadline; report who arrived.
--
-- KEYS[1]  the room's entries: sorted set of "<user id>|<instance>", scored by deadline (unix ms)
-- KEYS[2]  the room's present users: hash of user id -> user JSON
-- KEYS[3]  the room's entry counts: hash of user id -> number of entries
-- ARGV[1]  the room's pub/sub channel
-- ARGV[2]  the deadline (unix ms)
-- ARGV[3]  this instance
-- ARGV[4]  milliseconds the keys live from now (past the deadline: idle rooms' presence goes)
-- ARGV[5], ARGV[6], ...  user id, user JSON, for each user held
--
-- A user arrives with their first entry in the room (several tabs or instances count once).
-- Arrivals are published as `presence {"arrived":[...],"departed":[]}` on the room's channel,
-- inside the script, so every instance hears each arrival once and in order with the rest.
local arrived = {}
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call("ZADD", KEYS[1], ARGV[2], id .. "|" .. ARGV[3]) == 1 then
    if redis.call("HINCRBY", KEYS[3], id, 1) == 1 then
      redis.call("HSET", KEYS[2], id, ARGV[i + 1])
      arrived[#arrived + 1] = ARGV[i + 1]
    end
  end
end
for k = 1, 3 do
  redis.call("PEXPIRE", KEYS[k], ARGV[4])
end
if #arrived > 0 then
  redis.call("PUBLISH", ARGV[1], 'presence {"arrived":[' .. table.concat(arrived, ",") .. '],"departed":[]}')
end
return arrived
