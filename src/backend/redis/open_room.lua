-- Adds a room to a user's open rooms (a sorted set by when each was first opened) unless it is
-- there already or the list is full, and renews the list's lifetime.
-- KEYS[1] the list; ARGV: the room, now (unix ms), the cap, the lifetime (ms).
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false
    and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
