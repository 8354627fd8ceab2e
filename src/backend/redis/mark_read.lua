-- Moves a person's read mark in a room forward and tells the room's instances, as one step.
--
-- KEYS[1]  the room's read marks: a hash of user id -> message id (<ms>-<seq>)
-- ARGV[1]  the user id
-- ARGV[2]  the message id read up to, <ms>-<seq>
-- ARGV[3]  the room's pub/sub channel (it shares the room's hash tag on a cluster)
-- ARGV[4]  the command that publishes: PUBLISH, or SPUBLISH on a cluster
-- ARGV[5]  milliseconds the marks live after the last change (as long as an idle room's log)
--
-- Returns 1 when the mark moved (and `read <user id> <id>` was published), 0 when it was at or
-- past that id already. Ids compare as (ms, seq): both fit a Lua number exactly (ms < 2^53).
local function parse(id)
    local ms, seq = string.match(id, '^(%d+)-(%d+)$')
    return tonumber(ms), tonumber(seq)
end

local ms, seq = parse(ARGV[2])
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
    local cms, cseq = parse(current)
    if cms and (cms > ms or (cms == ms and cseq >= seq)) then
        return 0
    end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call(ARGV[4], ARGV[3], 'read ' .. ARGV[1] .. ' ' .. ARGV[2])
return 1
