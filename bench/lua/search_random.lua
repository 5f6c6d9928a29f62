-- Searches with distinct keys for bench/scale.sh: each request draws its
-- search text at random from a list taken from the data, and optionally a
-- category, so that no two consecutive requests need ask the same thing.
-- Arguments: PATH MODE WORDS_FILE [CATEGORIES_FILE] [EXTRA_QUERY]
--   PATH             /api/v1/products, or /api/v1/products/facets
--   MODE             word:   a line of WORDS_FILE as it is (one word, or words separated by spaces)
--                    prefix: the first 5 letters of a line's word (4 when it has fewer than 7),
--                            what a search box sends while the word is typed
--                    typo:   a word of 6+ letters with one edit (deletion, substitution,
--                            swap of adjacent letters or insertion; never the first letter),
--                            sent with fuzzy=true
--   WORDS_FILE       one search text a line (lower-case words)
--   CATEGORIES_FILE  one URL-encoded category a line, one drawn for each request; "-" or absent: none
--   EXTRA_QUERY      appended as it is (e.g. "&sort=-price")
-- At the end prints one line:
--   KEYS requests=N non200=E with_total=T mean_total=M zero_total=Z distinct_texts=D
-- (totals of the 200 responses that carry one; D is the size of the pool drawn from).
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function read_lines(path)
  local out = {}
  if path == nil or path == "" or path == "-" then return out end
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  for line in f:lines() do
    if line ~= "" then table.insert(out, line) end
  end
  f:close()
  return out
end

local function encode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  path = args[1]
  mode = args[2]
  local all = read_lines(args[3])
  categories = read_lines(args[4])
  extra = args[5] or ""
  texts = {}
  for _, t in ipairs(all) do
    if mode ~= "typo" or (#t >= 6 and not string.find(t, " ")) then table.insert(texts, t) end
  end
  assert(#texts > 0, "no usable search text in " .. tostring(args[3]))
  ntexts = #texts
  if mode == "typo" then extra = "&fuzzy=true" .. extra end
  requests, non200, with_total, sum_total, zero_total = 0, 0, 0, 0, 0
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.random(1000000))
  -- Reading every response in Lua (headers and body handed to response())
  -- costs wrk about as much CPU as building the request, on the cores the
  -- server shares: only a checking run (WRK_CHECK=1) reads them. wrk still
  -- counts non-2xx responses and socket errors without it.
  if os.getenv("WRK_CHECK") ~= "1" then response = nil end
end

local letters = "abcdefghijklmnopqrstuvwxyz"
local function typo(w)
  local n = #w
  local p = math.random(2, n - 1) -- never the first letter, never past the end
  local op = math.random(4)
  if op == 1 then -- deletion
    return string.sub(w, 1, p - 1) .. string.sub(w, p + 1)
  elseif op == 2 then -- swap of two adjacent letters (when they differ)
    local a, b = string.sub(w, p, p), string.sub(w, p + 1, p + 1)
    if a ~= b then return string.sub(w, 1, p - 1) .. b .. a .. string.sub(w, p + 2) end
  end
  local r = math.random(26)
  local c = string.sub(letters, r, r)
  if op == 3 and c ~= string.sub(w, p, p) then -- substitution
    return string.sub(w, 1, p - 1) .. c .. string.sub(w, p + 1)
  end
  return string.sub(w, 1, p - 1) .. c .. string.sub(w, p) -- insertion
end

function request()
  local t = texts[math.random(#texts)]
  if mode == "prefix" then
    t = string.sub(t, 1, (#t >= 7) and 5 or 4)
  elseif mode == "typo" then
    t = typo(t)
  end
  local q = path .. "?search=" .. encode(t)
  if #categories > 0 then q = q .. "&category=" .. categories[math.random(#categories)] end
  return wrk.format("GET", q .. extra)
end

function response(status, headers, body)
  requests = requests + 1
  if status ~= 200 then
    non200 = non200 + 1
    return
  end
  local total = string.match(body, '"total":%s*(%d+)')
  if total then
    total = tonumber(total)
    with_total = with_total + 1
    sum_total = sum_total + total
    if total == 0 then zero_total = zero_total + 1 end
  end
end

function done(summary, latency, requests_)
  -- Nothing was counted unless WRK_CHECK=1 (the threads had no response()).
  local n, e, w, s, z, d = 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("requests")
    e = e + t:get("non200")
    w = w + t:get("with_total")
    s = s + t:get("sum_total")
    z = z + t:get("zero_total")
    d = t:get("ntexts")
  end
  if n == 0 then return end
  io.write(string.format("KEYS requests=%d non200=%d with_total=%d mean_total=%.0f zero_total=%d distinct_texts=%d\n",
    n, e, w, s / math.max(1, w), z, d))
end
