-- A short Lua workload for `cargo xtask compare --whole-process`, run by Debian's
-- Lua 5.4.4 interpreter built for wasm32-wasi (scripts/build-debian-programs.sh).
-- That build cannot catch errors or yield (see lua_wasi.h), so nothing here uses
-- pcall, error or coroutines. Everything printed is deterministic.

-- A linear congruential generator, so every runtime sorts the same numbers.
local seed = 12345
local function random(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return (seed // 256) % n
end

-- String building: words made of syllables, joined, then scanned with patterns.
local syllables = { "ka", "lo", "mi", "ne", "su", "ta", "ri", "zu" }
local words = {}
for i = 1, 10000 do
  local parts = {}
  for j = 1, 2 + random(3) do
    parts[j] = syllables[random(#syllables) + 1]
  end
  words[i] = table.concat(parts)
end
local text = table.concat(words, " ")
local counts, distinct = {}, 0
for word in text:gmatch("%a+") do
  if not counts[word] then
    distinct = distinct + 1
  end
  counts[word] = (counts[word] or 0) + 1
end
local upper = text:gsub("ka", "KA"):sub(1, 40)
print(string.format("text: %d bytes, %d distinct words, starts %q", #text, distinct, upper))

-- Table sort, with a comparator closure over the counts.
local keys = {}
for word in pairs(counts) do
  keys[#keys + 1] = word
end
table.sort(keys, function(a, b)
  if counts[a] ~= counts[b] then
    return counts[a] > counts[b]
  end
  return a < b
end)
local top = {}
for i = 1, 5 do
  top[i] = keys[i] .. "=" .. counts[keys[i]]
end
print("most frequent: " .. table.concat(top, ", "))

local numbers = {}
for i = 1, 30000 do
  numbers[i] = random(1000000)
end
table.sort(numbers)
local sorted = true
for i = 2, #numbers do
  sorted = sorted and numbers[i - 1] <= numbers[i]
end
print(string.format("sorted %d numbers: %s, median %d", #numbers, tostring(sorted), numbers[15000]))

-- Closures: counters made by a factory, composed functions, a fold.
local function counter(step)
  local n = 0
  return function()
    n = n + step
    return n
  end
end
local function compose(f, g)
  return function(x)
    return f(g(x))
  end
end
local function fold(list, f, acc)
  for i = 1, #list do
    acc = f(acc, list[i])
  end
  return acc
end
local counters = {}
for i = 1, 100 do
  counters[i] = counter(i)
end
local total = 0
for _ = 1, 500 do
  for i = 1, #counters do
    total = total + counters[i]()
  end
end
local inc_then_double = compose(function(x) return 2 * x end, function(x) return x + 1 end)
local folded = fold(numbers, function(acc, x) return (acc + inc_then_double(x)) % 1000000007 end, 0)
print(string.format("closures: total %d, fold %d", total, folded))

-- Objects through metatables: a small vector class, summed.
local Vec = {}
Vec.__index = Vec
function Vec.new(x, y)
  return setmetatable({ x = x, y = y }, Vec)
end
function Vec.__add(a, b)
  return Vec.new(a.x + b.x, a.y + b.y)
end
function Vec:length()
  return math.sqrt(self.x * self.x + self.y * self.y)
end
local acc = Vec.new(0, 0)
for i = 1, 50000 do
  acc = acc + Vec.new(math.sin(i), math.cos(i))
end
print(string.format("vectors: (%.6f, %.6f), length %.6f", acc.x, acc.y, acc:length()))
