-- Write a lane's pause flag unless Redis already reflects a newer version (shop.lanes.pausing).
-- KEYS: 1 the lane's paused flag, 2 the pause versions hash.
-- ARGV: 1 lane, 2 version, 3 '1' pause / '0' resume / '' leave the flag.
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('SET', KEYS[1], 1) elseif ARGV[3] == '0' then redis.call('DEL', KEYS[1]) end
return 1
