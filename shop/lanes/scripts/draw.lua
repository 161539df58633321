-- Library: draw(ids, seed), the pre-queue's seeded shuffle (shop.domain.draw.shuffled in Python).
--
-- Sorts ``ids`` and shuffles them in place (Fisher-Yates) with Park and Miller's "minimal standard"
-- generator (multiplier 48271, modulus 2^31 - 1): every intermediate value stays below 2^53, so Lua's
-- doubles compute it exactly (with math.fmod, which is exact, rather than %, which divides).
-- The sort compares bytes: Lua's < on strings follows the server's locale, Python's does not.
local function bytewise(a, b)
  for k = 1, math.min(#a, #b) do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function draw(ids, seed)
  table.sort(ids, bytewise)
  local state = seed
  for i = #ids, 2, -1 do
    state = math.fmod(state * 48271, 2147483647)
    local j = math.fmod(state, i) + 1
    ids[i], ids[j] = ids[j], ids[i]
  end
  return ids
end
