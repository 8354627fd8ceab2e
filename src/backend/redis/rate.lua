-- One take from a token bucket kept as GCRA (see src/rate.rs, `take`, which this mirrors).
-- KEYS[1]: the bucket (the unix ms at which its next token is due; absent when full).
-- ARGV[1]: ms between tokens. ARGV[2]: the burst (tokens at once).
-- Returns 0 when a token was taken, else the ms until one is (the bucket is left as it was).
-- Redis' own clock, so every instance measures the same bucket with the same time.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local due = tonumber(redis.call('GET', KEYS[1])) or now
if due < now then due = now end
local ahead = due - now
if ahead > tolerance then
  return ahead - tolerance
end
local next_due = due + interval
-- Once the bucket would be full again, the key is not needed.
redis.call('SET', KEYS[1], next_due, 'PX', next_due - now)
return 0
